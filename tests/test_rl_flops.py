"""RL compute accounting against XLA's cost analysis of the jitted steps (within 5%)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from scaling import config
from scaling.models import build
from scaling.rl import config as R
from scaling.rl import flops as rlflops
from scaling.rl import generate
from scaling.rl.learner import Learner
from scaling.rl.problems import build as problems


def _xla(fn, *args) -> float:
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"])


def measure(family: str, width: int, rows: int = 8, problems_n: int = 4) -> dict:
    """Ratio XLA / analytic for prefill, one decode step, one update and one reference forward."""
    cfg = config.load(None, {"model.family": family, "model.width": width})
    graphdef, params = nnx.split(build(cfg, 0), nnx.Param)
    rl = R.build({"problems": {"train": problems_n, "heldout": 2}, "grpo": {"problems": problems_n, "kl": 0.1},
                  "sampling": {"group": rows // problems_n}})
    pr = problems(cfg.data, rl.problems, "train")
    images, prompt, plen = jnp.asarray(pr.images), jnp.asarray(pr.prompt), jnp.asarray(pr.prompt_len)
    merge = lambda p: nnx.merge(graphdef, p)  # noqa: E731
    out = {}
    out["prefill"] = _xla(lambda p, i, t, n: generate.prefill(merge(p), i, t, n), params, images, prompt, plen) \
        / (problems_n * rlflops.prefill(cfg))
    _, cache = generate.prefill(merge(params), images, prompt, plen)
    cache = jax.tree.map(lambda c: jnp.repeat(c, rows // problems_n, axis=1), cache)
    tok, pos = jnp.ones(rows, jnp.int32), jnp.full(rows, 20, jnp.int32)
    out["decode_step"] = _xla(lambda p, c, a, b: generate.decode_step(merge(p), c, a, b), params, cache, tok, pos) \
        / (rows * rlflops.decode_step(cfg))
    learner = Learner(cfg, R.with_pretrained(rl, "x"), graphdef, params, pr)
    im = jnp.repeat(images, rows // problems_n, axis=0)
    text = jnp.asarray(generate.full_text(pr.prompt, pr.prompt_len, np.full((rows, 2), 5), rows // problems_n))
    z = jnp.zeros(text.shape[:1] + (text.shape[-1] - 1,), jnp.float32)
    out["update"] = _xla(learner._update_step, learner.state, im, text, z, z, z + 1, jnp.ones(rows)) \
        / (rows * rlflops.update(cfg))
    out["reference"] = _xla(learner._logp, params, im, text) / (rows * rlflops.reference(cfg))
    return out


@pytest.mark.parametrize("family", ["early", "late", "blind"])
def test_rl_flops_match_xla(family):
    ratios = measure(family, 128)
    for kind, ratio in ratios.items():
        assert abs(ratio - 1) < 0.05, (family, kind, ratios)


def test_step_total_is_the_sum_of_its_parts_and_counts_every_rollout():
    cfg = config.load(None, {"model.width": 64})
    a = rlflops.step_flops(cfg, problems=4, group=8, decode_steps=3, updates=2, with_reference=True)
    assert a["rl/flops"] == a["rl/flops_sampling"] + a["rl/flops_update"] + a["rl/flops_reference"]
    assert a["rl/flops_update"] == 2 * 32 * rlflops.update(cfg)
    b = rlflops.step_flops(cfg, problems=4, group=8, decode_steps=4, updates=2, with_reference=False)
    assert b["rl/flops_sampling"] - a["rl/flops_sampling"] == pytest.approx(32 * rlflops.decode_step(cfg))
    assert b["rl/flops_reference"] == 0
    # the 2N/6N convention is close to the exact count at this size
    assert 0.5 < a["rl/flops_2n6n"] / a["rl/flops"] < 2


if __name__ == "__main__":
    for fam in ("early", "late", "blind"):
        for w in (64, 128, 256):
            print(fam, w, {k: round(v, 4) for k, v in measure(fam, w).items()})
