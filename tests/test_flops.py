"""Analytic parameters and FLOPs against the model's real arrays and XLA's cost analysis."""

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from scaling import config, flops
from scaling.data import SPLITS
from scaling.families import FAMILIES
from scaling.models import build

# The analytic count omits O(width) per-position work (norms, GELU, softmax), which XLA counts;
# its share falls as 1/width (about 4.5% at width 64, 1.2% at 256, 8% at width 32).
WIDTHS = (64, 128, 256)


def _cfg(family, width):
    return config.load(None, {"model.family": family, "model.width": width})


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("width", (32, 64, 128, 256))
def test_param_counts_equal_the_arrays(family, width):
    cfg = _cfg(family, width)
    _, state = nnx.split(build(cfg, 0), nnx.Param)
    actual = sum(x.size for x in jax.tree.leaves(state))
    counts = flops.params(cfg)
    assert counts["total"] == actual
    assert counts["total"] == sum(v for k, v in counts.items() if k != "total")
    assert (counts["vision"] == 0) == (family == "blind")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("width", WIDTHS)
def test_forward_and_training_flops_match_xla(family, width):
    ratios = flops.against_xla(_cfg(family, width))
    assert set(ratios) == {"forward/caption", "forward/interleaved", "forward/text", "train/caption"}
    for key, ratio in ratios.items():
        assert abs(ratio - 1) < 0.05, (family, width, key, ratio)


def test_xla_oracle_counts_a_matmul_exactly():
    a, b = jnp.ones((8, 16)), jnp.ones((16, 32))
    assert flops.xla_flops(jnp.matmul, a, b) == 2 * 8 * 16 * 32


def test_causal_convention_halves_only_decoder_attention():
    cfg = _cfg("late", 128)
    dense, causal = flops.forward_flops(cfg, "caption"), flops.forward_flops(cfg, "caption", causal=True)
    assert causal["decoder_attention"] == pytest.approx(dense["decoder_attention"] / 2)
    assert {k: v for k, v in causal.items() if k != "decoder_attention"} == \
           {k: v for k, v in dense.items() if k != "decoder_attention"}


def test_step_cost_and_conventions():
    cfg = _cfg("early", 64)
    cost = flops.step_cost(cfg)
    assert cost.tokens == cost.tokens_image + cost.tokens_text
    p = flops.params(cfg)
    assert cost.flops_6nd == 6 * (p["total"] - p["embed"]) * cost.tokens
    assert cost.flops_causal < cost.flops
    by_type = {s: flops.flops_by_token_type(cfg, s) for s in SPLITS}
    assert by_type["text"]["image"] == 0
    for s in SPLITS:
        assert sum(by_type[s].values()) == pytest.approx(flops.train_flops(cfg, s))


def test_tokens_for_flops_lands_within_a_step():
    cfg = _cfg("early", 64)
    per_step = flops.step_cost(cfg).flops
    for budget in (100 * per_step * 1.3, 1e12):
        tokens = flops.tokens_for_flops(cfg, budget)
        import dataclasses

        run = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, tokens=tokens))
        assert abs(flops.run_cost(run)["compute/flops"] / budget - 1) <= 0.5 * per_step / budget + 1e-12


def test_budget_below_one_step_names_the_minimum():
    from scaling.errors import ConfigError

    with pytest.raises(ConfigError, match="minimum"):
        flops.tokens_for_flops(_cfg("early", 64), 10.0)
