import pytest

from scaling import config
from scaling.errors import ConfigError


def test_defaults_resolve_with_ladder():
    cfg = config.load()
    assert (cfg.model.depth, cfg.model.heads) == config.ladder(cfg.model.width)
    assert cfg.model.width % cfg.model.heads == 0


def test_overrides_coerce_types(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  width: 32\noptim:\n  lr: 1e-3\n")
    cfg = config.load(path, ["model.family=late", "optim.lr=3e-3", "train.tokens=1e6", "seed=7"])
    assert cfg.model.family == "late" and cfg.model.width == 32
    assert cfg.optim.lr == 3e-3 and cfg.train.tokens == 1_000_000 and cfg.seed == 7


def test_run_id_depends_only_on_resolved_config():
    a = config.load(None, ["model.width=64"])
    b = config.load(None, ["model.width=64", "model.depth=2"])  # the ladder's depth, written out
    c = config.load(None, ["model.width=128"])
    assert config.run_id(a) == config.run_id(b) != config.run_id(c)


@pytest.mark.parametrize("override, culprit", [
    ("model.heads=3", "model.heads"),
    ("model.width=0", "model.width"),
    ("model.family=middle", "model.family"),
    ("model.colour=1", "model.colour"),
    ("model.width=abc", "model.width"),
    ("vision.patch_size=5", "vision.patch_size"),
    ("optim.schedule=linear", "optim.schedule"),
    ("train.tokens=-5", "train.tokens"),
    ("nonsense=1", "nonsense"),
    ("no_equals_sign", "no_equals_sign"),
])
def test_bad_values_name_the_key(override, culprit):
    with pytest.raises(ConfigError, match=culprit.replace(".", r"\.")):
        config.load(None, [override])


def test_bad_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml.*malformed"):
        config.load(bad)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("model:\n  widht: 64\n")
    with pytest.raises(ConfigError, match=r"unknown.yaml: model\.widht: unknown key"):
        config.load(unknown)
    with pytest.raises(ConfigError, match="missing.yaml"):
        config.load(tmp_path / "missing.yaml")
