"""The RL stage: GRPO on verifiable scene questions, starting from a finished pretraining run.

    cfg = scaling.rl.load("sweeps/rl.yaml", ["grpo.kl=0.01"])
    summary = scaling.rl.run(cfg, "runs/rl/<id>", pretrained_dir="runs/<pretrained id>")

Modules: config (RLConfig), problems (train / held-out sets), generate (KV-cache sampling), grpo
(rewards, advantages, loss; pass@k comes from scaling.fit.passk), flops (RL compute), learner (jitted steps,
evaluation), run (the loop, records, resume; `train` is the sweep launcher's entry for `stage: rl`).
"""

from scaling.rl.config import RLConfig, build, load, run_id, with_pretrained
from scaling.rl.run import load_pretrained, run

__all__ = ["RLConfig", "build", "load", "load_pretrained", "run", "run_id", "with_pretrained"]
