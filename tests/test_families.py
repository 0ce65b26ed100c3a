"""The model-family table: every row has both halves, an unknown family is a ConfigError wherever it
is looked up (that no module branches on a family name outside the table is checked in
tests/test_architecture.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import fields
from pathlib import Path

import pytest

from scaling import config, families, flops
from scaling.config import VisionConfig
from scaling.errors import ConfigError
from scaling.stream import stream

PACKAGE = Path(families.__file__).resolve().parent


def _cfg(family: str, width: int = 32):
    return config.load(None, {"model.family": family, "model.width": width})


def _unknown(family: str = "deaf"):
    cfg = _cfg("early")  # a resolved config whose family no row names (bypassing validation)
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, family=family))


def test_every_family_row_has_its_jax_half():
    from scaling.models import families as jax_half

    assert set(jax_half.ENTRIES) == set(families.TABLE) == set(families.FAMILIES)
    for name in families.FAMILIES:
        assert families.get(name).name == name
        assert jax_half.entry(name) is jax_half.ENTRIES[name]


def test_vision_keys_are_vision_config_keys():
    known = tuple(f.name for f in fields(VisionConfig))
    for fam in families.TABLE.values():
        assert set(fam.vision_keys) <= set(known), fam.name
    # the ViT family reads every vision key: a new one must be decided for it (and for the others)
    assert families.get("late").vision_keys == known


@pytest.mark.parametrize("family", families.FAMILIES)
def test_run_id_ignores_exactly_the_vision_keys_the_family_does_not_read(family):
    base = _cfg(family)
    for key in (f.name for f in fields(VisionConfig)):
        value = getattr(base.vision, key)
        other = config.load(None, {"model.family": family, "model.width": 32, f"vision.{key}": value * 2})
        moved = config.run_id(other) != config.run_id(base)
        assert moved == (key in families.get(family).vision_keys), (family, key)


@pytest.mark.parametrize("family", families.FAMILIES)
def test_rows_agree_with_the_stream_and_the_counts(family):
    fam, cfg = families.get(family), _cfg(family)
    st = stream(cfg, "caption")
    assert (st.image_positions > 0) == fam.sees_images
    assert set(fam.flops(cfg.model, cfg.vision, st)) <= set(families.VISION_COMPONENTS)
    assert set(fam.params(cfg.model, cfg.vision, st.patches)) <= {"embed", "vision"}
    assert (flops.params(cfg)["vision"] > 0) == fam.sees_images
    text = stream(cfg, "text")
    assert fam.flops(cfg.model, cfg.vision, text).get("vision", 0.0) == 0.0  # no image, no vision work


def test_unknown_family_is_a_config_error_everywhere():
    cfg = _unknown()
    calls = {"config.load": lambda: config.load(None, {"model.family": "deaf"}),
             "config.run_id": lambda: config.run_id(cfg), "families.get": lambda: families.get("deaf"),
             "stream": lambda: stream(cfg, "caption"), "flops.params": lambda: flops.params(cfg),
             "flops.forward_flops": lambda: flops.forward_flops(cfg, "text"),
             "flops.run_cost": lambda: flops.run_cost(cfg)}
    for call in calls.values():
        with pytest.raises(ConfigError, match=r"unknown family 'deaf' \(choose from early, late, blind\)"):
            call()


def test_unknown_family_is_a_config_error_in_the_models():
    pytest.importorskip("jax")
    from scaling.models import build
    from scaling.models import families as jax_half

    with pytest.raises(ConfigError, match="unknown family 'deaf'"):
        jax_half.entry("deaf")
    with pytest.raises(ConfigError, match="unknown family 'deaf'"):
        build(_unknown(), 0)
