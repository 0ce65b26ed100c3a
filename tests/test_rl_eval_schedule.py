"""The RL evaluation schedule: step 0, then log-spaced from the end of the warmup (`eval.start`)."""

import numpy as np
import pytest

from scaling.errors import ConfigError
from scaling.rl import config as R
from scaling.schedule import eval_steps, rl_eval_steps


def _cfg(**ev):
    return R.build({"steps": 40, "optim": {"warmup": 0.25}, "eval": {"points": 10, **ev}})


def test_evaluations_start_at_the_end_of_the_warmup_and_are_log_spaced():
    at = rl_eval_steps(_cfg())
    assert at[0] == 10 and at[-1] == 40 and len(at) == 10  # 0.25 x 40 warmup steps
    ratios = np.diff(np.log(at))
    assert ratios.max() < 2.5 * ratios.min()  # log-spaced (rounding to whole steps aside)
    # no warmup: from step 1, the schedule runs had before eval.start existed
    assert rl_eval_steps(R.build({"steps": 40, "eval": {"points": 10}})) == eval_steps(40, 10, first=1)
    assert rl_eval_steps(_cfg(start="1")) == [1, 2, 3, 4, 6, 9, 13, 19, 28, 40]


def test_an_explicit_start_step_and_a_number_in_yaml():
    assert rl_eval_steps(_cfg(start=5))[0] == 5 and rl_eval_steps(_cfg(start="5")) == rl_eval_steps(_cfg(start=5))
    # fewer steps left than points: every step from the start
    assert rl_eval_steps(R.build({"steps": 12, "optim": {"warmup": 0.5}, "eval": {"points": 10}})) == list(range(6, 13))


@pytest.mark.parametrize("bad", ["soon", 0, 41, "-3", 2.5, True])
def test_a_bad_start_is_one_config_error_naming_the_key(bad):
    with pytest.raises(ConfigError, match=r"eval\.start") as err:
        _cfg(start=bad)
    assert "\n" not in str(err.value)


def test_ids_of_runs_that_evaluate_from_step_one_stand():
    """eval.start "1" reproduces the schedule of runs made before the key existed: their id is the
    hash of the config without the key (as it was computed then); the new default, a different
    schedule, is a different run."""
    import hashlib
    import json

    a = R.with_pretrained(_cfg(start="1"), "p" * 12)
    d = R.to_dict(a)
    d.pop("log_every")
    del d["eval"]["start"]
    for section, key in (("problems", "kind"), ("problems", "families"), ("problems", "difficulty"),
                         ("grpo", "reward"), ("grpo", "reward_p")):
        d[section].pop(key)  # at their defaults: left out of ids since before this key
    blob = json.dumps({"stage": "rl", **d}, sort_keys=True, separators=(",", ":"))
    assert R.run_id(a) == hashlib.sha256(blob.encode()).hexdigest()[:12]
    assert R.run_id(a) != R.run_id(R.with_pretrained(_cfg(), "p" * 12))
