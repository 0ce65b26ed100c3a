"""The JAX half of each model family's row (`scaling.families` holds the JAX-free half).

A family's entry says which modules it adds to the shared decoder and how its tokens are embedded:

- `early`: a modality table and a linear patch embedding (patches -> linear -> the stream).
- `late`:  a modality table and its own ViT encoder with an MLP projector (`VisionEncoder`).
- `blind`: nothing: text tokens only, no modality table (its stream holds no image segment).

The modules are attributes of `Model` itself, created in the order listed (so parameter names and
initial values do not depend on this table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import jax
from flax import nnx

from scaling import families
from scaling.config import RunConfig
from scaling.errors import ConfigError
from scaling.models.layers import Stack, compute_dtype, embedding, linear
from scaling.models.mup import attention_divisor
from scaling.stream import patches_per_image


class VisionEncoder(nnx.Module):
    """The `late` family's own ViT: patch embedding, positions, bidirectional blocks, projector."""

    def __init__(self, cfg: RunConfig, rngs: nnx.Rngs):
        v, p, dt = cfg.vision, cfg.vision.patch_size, compute_dtype(cfg)
        self.patch_embed = linear(p * p * 3, v.width, rngs, dtype=dt)
        self.pos = embedding(patches_per_image(cfg), v.width, rngs)
        self.stack = Stack(v.width, v.depth, v.heads, v.mlp_ratio, rngs, dt,
                           attention_divisor(cfg, v.width // v.heads))
        self.proj_in = linear(v.width, cfg.model.width, rngs, dtype=dt)
        self.proj_out = linear(cfg.model.width, cfg.model.width, rngs, dtype=dt)

    def __call__(self, patches: jax.Array) -> jax.Array:
        x = (self.patch_embed(patches) + self.pos[...]).astype(self.patch_embed.dtype)
        x = self.stack(x, causal=False)
        return self.proj_out(jax.nn.gelu(self.proj_in(x)))


@dataclass(frozen=True)
class Entry:
    """modules(cfg, rngs) -> {attribute of the model: module or parameter}, in creation order;
    text(model, x) -> text-token embeddings x with the family's marker; image(model, patches
    [B, n, p*p*3]) -> the image's stream vectors."""

    modules: Callable[[RunConfig, nnx.Rngs], dict[str, Any]]
    text: Callable[[Any, jax.Array], jax.Array]
    image: Callable[[Any, jax.Array], jax.Array]


def _modality(cfg: RunConfig, rngs: nnx.Rngs) -> nnx.Param:
    return embedding(len(families.MODALITIES), cfg.model.width, rngs)


def _early_modules(cfg: RunConfig, rngs: nnx.Rngs) -> dict[str, Any]:
    p = cfg.vision.patch_size
    return {"modality": _modality(cfg, rngs),
            "patch_embed": linear(p * p * 3, cfg.model.width, rngs, dtype=compute_dtype(cfg))}


def _late_modules(cfg: RunConfig, rngs: nnx.Rngs) -> dict[str, Any]:
    return {"modality": _modality(cfg, rngs), "vision": VisionEncoder(cfg, rngs)}


def _marked_text(model, x: jax.Array) -> jax.Array:
    return x + model.modality[...][families.MODALITIES.index("text")]


def _early_image(model, patches: jax.Array) -> jax.Array:
    return model.patch_embed(patches) + model.modality[...][families.MODALITIES.index("image")]


def _late_image(model, patches: jax.Array) -> jax.Array:
    return model.vision(patches) + model.modality[...][families.MODALITIES.index("image")]


def _no_modules(cfg: RunConfig, rngs: nnx.Rngs) -> dict[str, Any]:
    return {}


def _plain_text(model, x: jax.Array) -> jax.Array:
    return x


def _no_image(model, patches: jax.Array) -> jax.Array:
    raise ConfigError(f"model.family {model.cfg.model.family!r}: its stream holds no image segment")


ENTRIES = {
    "early": Entry(_early_modules, _marked_text, _early_image),
    "late": Entry(_late_modules, _marked_text, _late_image),
    "blind": Entry(_no_modules, _plain_text, _no_image),
}


def entry(name: str) -> Entry:
    """The JAX half of family `name` (ConfigError for a family without a row or without this half)."""
    families.get(name)
    try:
        return ENTRIES[name]
    except KeyError:
        raise ConfigError(f"model.family: {name!r} has no JAX modules registered in scaling.models.families") \
            from None
