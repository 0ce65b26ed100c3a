"""Analytic parameter counts and training FLOPs, per component and token type.

Units: parameters are scalars; FLOPs count a multiply-add as 2. Only matrix products are counted
(embedding gathers, norms, activations and softmax are O(width) per position and are the reason
the XLA oracle reads a few percent higher).

Three conventions for training compute:
- `exact`:  forward with dense attention (full S x S scores), and backward = 2x forward for every
            product, except the patch embedding, whose input (pixels) needs no gradient (1x).
- `causal`: as `exact`, with the decoder's attention products halved for the causal mask.
- `6nd`:    6 * N * D with N = non-embedding parameters (all but the gather tables) and D =
            stream positions processed.
"""

from __future__ import annotations

from dataclasses import dataclass

from scaling import families
from scaling.config import RunConfig
from scaling.data import split_counts, train_batch
from scaling.errors import ConfigError
from scaling.families import VISION_COMPONENTS, stack_params
from scaling.schedule import spent_steps
from scaling.stream import max_length, patches_per_image, stream, vocab_size


# ---------------------------------------------------------------- parameters


def params(cfg: RunConfig) -> dict[str, int]:
    """Parameters per component: embed (gather tables), vision, decoder_nonembed, head, total; the
    family's row (`scaling.families`) adds its modality table and image path."""
    m, v = cfg.model, cfg.vision
    out = {
        "embed": vocab_size() * m.width + max_length(cfg) * m.width,
        "vision": 0,
        "decoder_nonembed": stack_params(m.width, m.depth, m.mlp_ratio),
        "head": m.width * vocab_size(),
    }
    for component, count in families.get(m.family).params(m, v, patches_per_image(cfg)).items():
        out[component] += count
    out["total"] = sum(out.values())
    return out


# ---------------------------------------------------------------- forward FLOPs


def forward_flops(cfg: RunConfig, split: str, causal: bool = False) -> dict[str, float]:
    """Forward FLOPs of ONE example of `split`, per component.

    Components: patch_embed, vision (ViT blocks), projector, decoder_dense (QKV/out/MLP),
    decoder_attention (scores and mixing), head (logits at the loss positions).
    """
    m, v = cfg.model, cfg.vision
    st = stream(cfg, split)
    s, d = st.length, m.width
    out = dict.fromkeys(VISION_COMPONENTS + ("decoder_dense", "decoder_attention", "head"), 0.0)
    vision = families.get(m.family).flops(m, v, st)
    if not set(vision) <= set(VISION_COMPONENTS):
        raise ConfigError(f"model.family {m.family!r}: FLOP terms {sorted(vision)} outside {VISION_COMPONENTS}")
    out.update(vision)
    out["decoder_dense"] = m.depth * 2.0 * s * (4 * d * d + 2 * m.mlp_ratio * d * d)
    out["decoder_attention"] = m.depth * 4.0 * s * s * d * (0.5 if causal else 1.0)
    out["head"] = 2.0 * len(st.target_positions) * d * vocab_size()
    return out


def train_flops(cfg: RunConfig, split: str, causal: bool = False) -> float:
    """Training FLOPs (forward + backward) of one example of `split`."""
    f = forward_flops(cfg, split, causal)
    total = 3.0 * sum(f.values())
    return total - f["patch_embed"]  # no gradient w.r.t. the pixels


def flops_by_token_type(cfg: RunConfig, split: str) -> dict[str, float]:
    """Exact training FLOPs of one example split between image and text positions.

    Vision-side work is charged to image tokens, the head to text tokens, and the decoder's
    per-position work by position count.
    """
    f = forward_flops(cfg, split)
    st = stream(cfg, split)
    share = st.image_positions / st.length
    decoder = 3.0 * (f["decoder_dense"] + f["decoder_attention"])
    image = 2.0 * f["patch_embed"] + 3.0 * (f["vision"] + f["projector"]) + share * decoder
    text = 3.0 * f["head"] + (1 - share) * decoder
    return {"image": image, "text": text}


# ---------------------------------------------------------------- per step and per run


@dataclass(frozen=True)
class StepCost:
    """What one training step processes and costs (the same every step)."""

    tokens: int
    tokens_image: int
    tokens_text: int
    flops: float  # exact
    flops_causal: float
    flops_6nd: float


def step_cost(cfg: RunConfig) -> StepCost:
    counts = split_counts(cfg.data, cfg.train.batch_size)
    tokens = image = 0
    flops = flops_causal = 0.0
    for split, n in counts.items():
        st = stream(cfg, split)
        tokens += n * st.length
        image += n * st.image_positions
        flops += n * train_flops(cfg, split)
        flops_causal += n * train_flops(cfg, split, causal=True)
    p = params(cfg)
    n_nonembed = p["total"] - p["embed"]
    return StepCost(tokens, image, tokens - image, flops, flops_causal, 6.0 * n_nonembed * tokens)


def num_steps(cfg: RunConfig) -> int:
    """Whole training steps in the run: train.tokens // tokens per step."""
    return cfg.train.tokens // step_cost(cfg).tokens


def run_cost(cfg: RunConfig) -> dict[str, float]:
    """The whole run's size and compute under every convention (record field names); `compute/flops`
    is the run's final point, `compute/flops_spent` all it trains (cooldown branches included)."""
    c, steps = step_cost(cfg), num_steps(cfg)
    spent = spent_steps(cfg.optim, cfg.train, steps)  # raises ConfigError when the branches do not fit
    return {
        "steps_spent": spent,
        "compute/flops_spent": spent * c.flops,
        "steps": steps,
        "tokens/total": steps * c.tokens,
        "tokens/image": steps * c.tokens_image,
        "tokens/text": steps * c.tokens_text,
        "compute/flops": steps * c.flops,
        "compute/flops_causal": steps * c.flops_causal,
        "compute/flops_6nd": steps * c.flops_6nd,
        "params/total": params(cfg)["total"],
    }


def tokens_for_flops(cfg: RunConfig, budget: float) -> int:
    """`train.tokens` whose whole steps spend the exact FLOP count nearest to `budget`."""
    c = step_cost(cfg)
    steps = round(budget / c.flops)
    if steps < 1:
        raise ConfigError(
            f"budget {budget:.3g} FLOPs is below one training step of width {cfg.model.width} "
            f"({c.flops:.3g} FLOPs); the minimum is {c.flops:.3g}"
        )
    return steps * c.tokens


# ---------------------------------------------------------------- the oracle


def xla_flops(fn, *args) -> float:
    """FLOPs that XLA's cost analysis counts for the jitted `fn(*args)` (the tests' oracle)."""
    import jax  # the oracle only: the planner imports this module and stays JAX-free

    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"])


def against_xla(cfg: RunConfig, splits=("caption", "interleaved", "text"), examples: int = 4) -> dict:
    """XLA / analytic FLOPs of the forward pass per split, and of one training step's loss+gradient
    on the caption split: {"forward/<split>": ratio, "train/caption": ratio}."""
    import jax  # the oracle only, as in `xla_flops`: JAX and the models stay out of the planner
    import jax.numpy as jnp
    from flax import nnx

    from scaling.models import build, loss_sums

    graphdef, params = nnx.split(build(cfg, 0), nnx.Param)
    batch = train_batch(cfg.data, 0, 0, 64)
    out = {}
    for split in splits:
        b = {k: jnp.asarray(v[:examples]) for k, v in batch[split].items()}
        fwd = xla_flops(lambda p, im, tx, s=split: nnx.merge(graphdef, p)(s, im, tx), params, b["images"], b["text"])
        out[f"forward/{split}"] = fwd / (examples * sum(forward_flops(cfg, split).values()))
    b = {k: jnp.asarray(v[:examples]) for k, v in batch["caption"].items()}

    def loss(p, im, tx):
        total, count = loss_sums(nnx.merge(graphdef, p)("caption", im, tx), tx)
        return total / count

    step = xla_flops(jax.value_and_grad(loss), params, b["images"], b["text"])
    out["train/caption"] = step / (examples * train_flops(cfg, "caption"))
    return out
