"""The model families: one row per way images enter the decoder, read by every module that differs by family.

A row holds what the planner needs without JAX: the `vision.*` keys in the family's run id, whether
image segments enter its stream, and its parameter and forward-FLOP terms (what the image path adds
to the shared decoder's count). The JAX half of each row (the family's own modules and how its
tokens are embedded) is `scaling.models.families`, registered under the same names; a test checks
that every row has both halves. An unknown family is a ConfigError wherever it is looked up.

This module sits below `scaling.config` (which checks a family and builds its run id from the
row), so the terms take the resolved config's sections, not the config type:
    model   ModelConfig (width, mlp_ratio)       vision  VisionConfig (patch_size, width, depth, ...)
    stream  scaling.stream.Stream of one example (image_positions, patches)
Units: parameters are scalars; FLOPs count a multiply-add as 2 (see `scaling.flops`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from scaling.errors import ConfigError

MODALITIES = ("text", "image")  # rows of the modality table of a family that sees images
VISION_COMPONENTS = ("patch_embed", "vision", "projector")  # forward-FLOP components of an image path


@dataclass(frozen=True)
class Family:
    """One model family. `params(model, vision, patches per image)` -> {component: parameters} added
    to the shared decoder's (`embed`, `vision`); `flops(model, vision, stream)` -> {component: forward
    FLOPs of one example} among VISION_COMPONENTS."""

    name: str
    about: str
    vision_keys: tuple[str, ...]  # `vision.*` keys the family reads: the others stay out of its run id
    sees_images: bool  # image segments enter its stream (each position then carries a modality embedding)
    params: Callable[[Any, Any, int], dict[str, int]]
    flops: Callable[[Any, Any, Any], dict[str, float]]


# ---------------------------------------------------------------- counting helpers (shared with flops)


def linear_params(d_in: int, d_out: int, bias: bool = True) -> int:
    return d_in * d_out + (d_out if bias else 0)


def stack_params(width: int, depth: int, ratio: int) -> int:
    """`depth` pre-norm blocks (fused QKV, output, MLP, two norms) and a final norm."""
    norm = 2 * width
    block = 2 * norm + linear_params(width, 3 * width) + linear_params(width, width)
    block += linear_params(width, ratio * width) + linear_params(ratio * width, width)
    return depth * block + norm


def _patch_dim(vision) -> int:
    return vision.patch_size**2 * 3


# ---------------------------------------------------------------- early: patches -> linear -> stream


def _early_params(model, vision, patches: int) -> dict[str, int]:
    return {"embed": len(MODALITIES) * model.width, "vision": linear_params(_patch_dim(vision), model.width)}


def _early_flops(model, vision, stream) -> dict[str, float]:
    return {"patch_embed": 2.0 * stream.image_positions * _patch_dim(vision) * model.width}


# ---------------------------------------------------------------- late: ViT -> projector -> stream


def _late_params(model, vision, patches: int) -> dict[str, int]:
    v, d = vision, model.width
    count = linear_params(_patch_dim(v), v.width) + patches * v.width
    count += stack_params(v.width, v.depth, v.mlp_ratio)
    count += linear_params(v.width, d) + linear_params(d, d)
    return {"embed": len(MODALITIES) * d, "vision": count}


def _late_flops(model, vision, stream) -> dict[str, float]:
    v, d = vision, model.width
    images = stream.image_positions // stream.patches if stream.patches else 0  # images actually in the stream
    n, w = stream.patches, v.width
    per_image = v.depth * (2.0 * n * (4 * w * w + 2 * v.mlp_ratio * w * w) + 4.0 * n * n * w)
    return {"patch_embed": 2.0 * images * n * _patch_dim(v) * w, "vision": images * per_image,
            "projector": 2.0 * images * n * (w * d + d * d)}


# ---------------------------------------------------------------- blind: the control, no image


def _none(*_) -> dict:
    return {}


TABLE = {f.name: f for f in (
    Family("early", "image patches -> linear -> the shared stream (early fusion, native)",
           ("patch_size",), True, _early_params, _early_flops),
    Family("late", "patches -> bidirectional ViT encoder -> MLP projector -> the stream (stitched)",
           ("patch_size", "width", "depth", "heads", "mlp_ratio"), True, _late_params, _late_flops),
    Family("blind", "the control: image segments are left out of the stream", (), False, _none, _none),
)}
FAMILIES = tuple(TABLE)  # names, in table order (the CLI's list)


def get(name: str) -> Family:
    """The row of family `name`; ConfigError naming the choices for any other."""
    try:
        return TABLE[name]
    except KeyError:
        raise ConfigError(f"model.family: unknown family {name!r} (choose from {', '.join(FAMILIES)})") from None
