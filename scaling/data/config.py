"""The data section of a run config: `DataConfig`, the splits, the worlds, and their checks.

It sits below `scaling.config` (which builds the whole run config from it) and is what every data
module reads, so the run config and the data never import each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from scaling.data.kinds import MIN_TEXT_LEN
from scaling.data.kinds import check as check_world
from scaling.data.reasoning import check_share
from scaling.errors import ConfigError, DataError

SPLITS = ("caption", "qa", "text", "interleaved")
WORLDS = ("shapes", "kinds")
MIN_CAPTION_LEN = 12  # tokens a shapes-world caption needs


@dataclass(frozen=True)
class DataConfig:
    """Procedural scenes and text. Mixture weights need not sum to 1 (they are normalised).

    world: `shapes` (the small world: 4 shapes x 6 colours x 2 sizes on a 4 x 4 grid) or `kinds`
    (`scaling.data.kinds`: `kinds` object kinds with Zipf(`zipf`) frequencies, each name syllable
    replaced at random with probability `noise`; its exact entropy floor is known per split).
    chains: the share of qa examples (shapes world) that are a text-only reasoning problem with its
    worked chain, 'question <answer> <think> steps </think> answer' (`scaling.data.reasoning`), so a
    pretrained model can write the chains RL rewards (`problems.kind: reasoning`). 0 (the default)
    leaves the data, and the run id, as without it.
    """

    world: str = "shapes"
    kinds: int = 20000
    zipf: float = 1.5
    noise: float = 0.2
    image_size: int = 16
    max_objects: int = 4
    text_len: int = 24
    chains: float = 0.0
    mix_caption: float = 0.4
    mix_qa: float = 0.3
    mix_text: float = 0.2
    mix_interleaved: float = 0.1
    val_examples: int = 128
    seed: int = 1234


def check(d: DataConfig) -> None:
    """ConfigError naming the key for an impossible data section (sizes are checked positive by
    `scaling.config.validate` before this runs)."""
    if d.image_size < 16 or d.image_size % 4:
        raise ConfigError(f"data.image_size: must be a multiple of 4 and at least 16, got {d.image_size}")
    if d.max_objects > 4:
        raise ConfigError(f"data.max_objects: at most 4 objects per scene, got {d.max_objects}")
    if d.world not in WORLDS:
        raise ConfigError(f"data.world: unknown world {d.world!r} (choose from {', '.join(WORLDS)})")
    if d.world == "kinds":
        try:
            check_world(d.kinds, d.zipf, d.noise)
        except DataError as err:
            raise ConfigError(str(err)) from None
        if d.text_len < MIN_TEXT_LEN:
            raise ConfigError(f"data.text_len: the kinds world's longest text needs {MIN_TEXT_LEN} tokens, "
                              f"got {d.text_len}")
    elif d.text_len < MIN_CAPTION_LEN:
        raise ConfigError(f"data.text_len: at least {MIN_CAPTION_LEN} tokens are needed for a caption, "
                          f"got {d.text_len}")
    if d.chains:
        try:
            check_share(d.chains, d.world, d.mix_qa, d.text_len)
        except DataError as err:
            raise ConfigError(str(err)) from None
    mix = [d.mix_caption, d.mix_qa, d.mix_text, d.mix_interleaved]
    if min(mix) < 0 or sum(mix) <= 0:
        raise ConfigError(f"data.mix_*: weights must be non-negative with a positive sum, got {mix}")
