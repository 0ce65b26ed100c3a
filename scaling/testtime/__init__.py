"""Test-time compute: parallel samples per problem from a finished run (pretrained or RL),
majority vote, best-of-M with the exact verifier (an oracle: an upper bound), and two-round agents;
tokens, critical-path decoding steps, branches, rounds and FLOPs per problem, and the device's
decode-step time per batch size tau(B) (`scaling.testtime.latency`) for the query's latency.

    loaded = scaling.testtime.load_run("runs/rl/<id>")
    rows, xla = scaling.testtime.evaluate(loaded, problems, [1, 2, 4], [0], max_len=6)
    scaling.testtime.run("runs/rl/<id>", "runs/tt", ms=[1, 2, 4, 8])   # records into a folder
"""

from scaling.testtime.schemes import SCHEMES, evaluate
from scaling.testtime.runs import Loaded, load_run
from scaling.testtime.study import run

__all__ = ["SCHEMES", "Loaded", "evaluate", "load_run", "run"]
