"""The parameterisations (`model.param`): how each layer's initial scale and Adam learning rate
depend on width.

`standard`: every matrix starts at std 0.02 and every parameter trains at the run's learning rate,
so the best learning rate moves with width.

`mup` (maximal update parameterisation for Adam; Yang et al., Tensor Programs V, Table 3), relative
to a base model of `model.base_width` (at the base width it is the standard model):

    layer                                 init std x        Adam learning rate x
    input (embedding tables, patches)     1                 1
    hidden (width -> width matrices)      1/sqrt(r)         1/r
    output (the readout to the vocab)     1/r               1/r
    vectors (biases, norm scales)         1                 1

where r = fan_in / the base model's fan_in. Which matrices are which is read off the shapes: a
dimension that differs between this model and its base grows with width (so every family, the
`late` family's ViT and projector included, is covered without a table of layer names). The readout
is kept at plain logits with the 1/r moved into its initial scale and learning rate (for Adam
this equals, up to Adam's epsilon, a 1/r multiplier on the logits): the forward pass, its FLOPs,
and every reader of the logits (RL sampling, test-time decoding) stay as they are.

Attention scores are divided by d_head / sqrt(d_base) instead of sqrt(d_head) (µP's 1/d), where
d_base is the head size the ladder gives the base width: the same scale at the base, and query-key
products that stay of order one as heads widen (below width 64 the ladder has one head, as wide
as the model).

Weight decay is left out of the multipliers (`scaling.optim`): a matrix decays by lr * weight_decay
per step at every width, so the decay's time scale does not change with width.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax

from scaling.config import RunConfig, ladder, vision_width


def base_config(cfg: RunConfig) -> RunConfig:
    """`cfg` at its base width: same depth and family, the decoder (and a ViT that follows the
    decoder's width) at `model.base_width`. Only its parameter shapes are used."""
    m, v = cfg.model, cfg.vision
    base_v = vision_width(m.base_width) if v.width == vision_width(m.width) else v.width
    return dataclasses.replace(cfg, model=dataclasses.replace(m, width=m.base_width, heads=1),
                               vision=dataclasses.replace(v, width=base_v, heads=1))


def attention_divisor(cfg: RunConfig, head_size: int) -> float:
    """What attention scores are divided by for heads of `head_size` (µP's 1/d under mup)."""
    if cfg.model.param != "mup":
        return math.sqrt(head_size)
    base = cfg.model.base_width // ladder(cfg.model.base_width)[1]
    return head_size / math.sqrt(base)


def _input(ratio: float) -> tuple[float, float]:
    return 1.0, 1.0


def _hidden(ratio: float) -> tuple[float, float]:
    return 1.0 / math.sqrt(ratio), 1.0 / ratio


def _output(ratio: float) -> tuple[float, float]:
    return 1.0 / ratio, 1.0 / ratio


# (fan-in grows with width, fan-out grows with width) -> (ratio -> (init factor, lr factor))
RULES: dict[tuple[bool, bool], Callable[[float], tuple[float, float]]] = {
    (False, False): _input, (False, True): _input, (True, True): _hidden, (True, False): _output,
}


def factors(shapes, base_shapes):
    """(init factors, lr factors): two trees shaped like `shapes`, a model's parameters (arrays or
    shape structs), given `base_shapes`, its base model's (`base_config`), leaf by leaf."""
    def rule(leaf, base):
        if leaf.ndim < 2:
            return 1.0, 1.0
        grows = (leaf.shape[0] != base.shape[0], leaf.shape[-1] != base.shape[-1])
        return RULES[grows](leaf.shape[0] / base.shape[0])

    both = jax.tree.map(rule, shapes, base_shapes)
    pick = lambda i: jax.tree.map(lambda pair: pair[i], both, is_leaf=lambda x: isinstance(x, tuple))  # noqa: E731
    return pick(0), pick(1)
