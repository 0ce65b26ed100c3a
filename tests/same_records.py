"""Whether two code versions write the same records: train the same tiny runs (early, late and blind
pretraining, an RL run from the early one, a test-time study of it) with whichever `scaling` is on
PYTHONPATH and write their records (without measured times, throughput and latencies) to
OUT/records.json. Run it with the old and the new code, compare the two files, and list the old
code version in `scaling.provenance.SAME_RECORDS` only when they are equal:

    PYTHONPATH=<old checkout> python tests/same_records.py /tmp/old
    PYTHONPATH=<new checkout> python tests/same_records.py /tmp/new
    cmp <(python -c "import json;d=json.load(open('/tmp/old/records.json'));d.pop('code');print(d)") \\
        <(python -c "import json;d=json.load(open('/tmp/new/records.json'));d.pop('code');print(d)")

Not a test (a few minutes of training); kept beside the tests as `sweep_harness.py` is.
"""

import json
import sys
from pathlib import Path

from scaling import config, provenance, rl, testtime
from scaling.train import train

PRE = {"model.width": 32, "data.val_examples": 16, "train.batch_size": 8, "train.eval_batch_size": 16,
       "train.tokens": 8 * 320 * 20, "train.eval_points": 2}
RL = {"steps": 6, "checkpoint_every": 2, "problems.train": 32, "problems.heldout": 12, "grpo.problems": 4,
      "sampling.group": 4, "sampling.max_len": 4, "eval.samples": 4, "eval.k": "1,2,4",
      "eval.train_problems": 8, "eval.chunk": 4, "eval.points": 4, "optim.lr": 1e-3, "grpo.kl": 0.05}
MEASURED = ("time/", "throughput/")


def stable(run: Path) -> dict:
    recs = [{k: v for k, v in r.items() if not k.startswith(MEASURED)}
            for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]
    return {"config": json.loads((run / "config.json").read_text()), "records": recs}


def main(out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    res = {"code": provenance.code_version()}
    for fam in ("early", "late", "blind"):
        train(config.load(None, {**PRE, "model.family": fam}), out / fam)
        res[fam] = stable(out / fam)
    rl.run(rl.load(None, RL), out / "rl", out / "early")
    res["rl"] = stable(out / "rl")
    testtime.run(out / "early", out / "tt", ms=[1, 2], seeds=[0], n_problems=4)
    rows = [{k: v for k, v in json.loads(line).items() if "latency" not in k and not k.startswith(MEASURED)}
            for line in (out / "tt" / "records.jsonl").read_text().splitlines()]
    res["tt"] = {"config": {}, "records": rows}
    (out / "records.json").write_text(json.dumps(res, indent=1, sort_keys=True))
    return res


if __name__ == "__main__":
    done = main(Path(sys.argv[1]))
    print(done["code"], {k: len(v["records"]) for k, v in done.items() if k != "code"})
