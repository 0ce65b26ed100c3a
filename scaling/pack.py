"""Which runs may train together in one pack (`scaling.trainer`), JAX-free (the launcher uses it).

A pack's members share every shape (family, width, depth, heads, sequence layout, batch size,
token budget, schedule shape, evaluation and checkpoint cadence, data) and differ only in the
per-run scalars below. The recipe's name and tracking-only keys may differ too.
"""

from __future__ import annotations

import json

from scaling.config import RunConfig, flatten, to_dict
from scaling.errors import ConfigError

DEFAULT_PACK = 8  # members per pack when neither --pack nor resources.pack says (see README)
# What members of one pack may differ in (besides the recipe's name and tracking-only keys).
PER_MEMBER = ("seed", "optim.lr", "optim.weight_decay")
_IGNORED = ("recipe", "train.log_every", "train.tensorboard")


def pack_key(cfg: RunConfig) -> str:
    """Everything that must be equal for two runs to train in one pack (a canonical JSON string)."""
    flat = flatten(to_dict(cfg))
    return json.dumps({k: v for k, v in flat.items() if k not in PER_MEMBER + _IGNORED}, sort_keys=True)


def check_pack(cfgs) -> None:
    """ConfigError naming the first key in which a member differs from the first in shape."""
    if not cfgs:
        raise ConfigError("a pack needs at least one run")
    first = flatten(to_dict(cfgs[0]))
    for cfg in cfgs[1:]:
        other = flatten(to_dict(cfg))
        for key in sorted(set(first) | set(other)):
            if key not in PER_MEMBER + _IGNORED and first.get(key) != other.get(key):
                raise ConfigError(f"pack: runs differ in {key} ({first.get(key)!r} vs {other.get(key)!r}); "
                                  f"only {', '.join(PER_MEMBER)} may differ within a pack")




def check_pack_size(value, where: str = "--pack") -> int:
    """A pack size: a whole number >= 1 (1: every run alone); ConfigError naming `where` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: must be a whole number of runs, at least 1 (1: no packing), got {value!r}")
    return value
