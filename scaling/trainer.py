"""The jitted pieces of a pack of runs: init, one training step, evaluation, vmapped over members.

A pack is a set of runs that share every shape (family, width, depth, heads, sequence layout,
batch size, token budget, schedule shape: `pack_key`) and differ only in per-run scalars: seed
(initialisation and data order), peak learning rate and weight decay (`scaling.pack`). One compiled step trains
them all over stacked parameters and optimizer states (`jax.vmap`). A lone run is a pack of one.

A member whose loss or gradient norm is not finite stops updating at that step (its state is kept
as it was before the step) while the others go on; `alive` records it on the device, so the loop
never waits on the device to find out (it reads the flags at its sync points).

Batches are built on the host in NumPy, one ahead: the next step's batch is prepared in a
background thread while the device runs the current step (`Prefetch`).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from scaling import flops
from scaling.config import RunConfig
from scaling.data import SPLITS, layout, split_counts, train_batch, val_batch
from scaling.data.tokenizer import syllable_ids
from scaling.models import build, loss_sums, lr_scale
from scaling.models.model import example_loss_sums
from scaling.optim import apply, moments
from scaling.pack import check_pack
from scaling.schedule import lr_schedule

# Splits with the same stream layout (caption and qa) share one compiled graph.
LAYOUT_KEY = {s: next(t for t in SPLITS if layout(t) == layout(s)) for s in SPLITS}


def layout_groups(splits: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Training splits grouped by layout: ((representative, (splits...)), ...), in SPLITS order."""
    groups: dict[str, list[str]] = {}
    for s in splits:
        groups.setdefault(LAYOUT_KEY[s], []).append(s)
    return tuple((k, tuple(v)) for k, v in groups.items())


def enable_compilation_cache() -> None:
    """Reuse compiled steps across processes (the runs of a sweep share shapes).

    $SCALING_JAX_CACHE names the folder (default ~/.cache/scaling/jax); "off" disables it. A cache
    the user configured already is left alone.
    """
    where = os.environ.get("SCALING_JAX_CACHE", os.path.expanduser("~/.cache/scaling/jax"))
    if where == "off" or jax.config.jax_compilation_cache_dir:
        return
    jax.config.update("jax_compilation_cache_dir", where)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def init_params(cfg: RunConfig, seeds=None):
    """(graphdef, parameters) of fresh models, one per seed (default: cfg.seed), stacked on a
    leading member axis. Each member's parameters equal a lone run's with that seed."""
    seeds = [cfg.seed] if seeds is None else list(seeds)
    abstract = nnx.eval_shape(lambda: build(cfg, 0))
    graphdef, _ = nnx.split(abstract, nnx.Param)
    # nnx.Rngs makes key(seed) from an int seed; a traced seed must be made a key first
    make = jax.jit(lambda seed: nnx.split(build(cfg, jax.random.key(seed)), nnx.Param)[1])
    members = [make(jnp.int32(s)) for s in seeds]
    return graphdef, stack(members)


def stack(trees):
    """Stack pytrees of equal structure on a new leading axis."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def member(tree, i: int):
    """Member `i`'s slice of a stacked pytree."""
    return jax.tree.map(lambda x: x[i], tree)


class Prefetch:
    """The pack's batch for a step, built one step ahead in a background thread (NumPy releases
    the GIL in its kernels, so the host builds the next batch while the device trains)."""

    def __init__(self, build_batch):
        self.build = build_batch
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="batches")
        self.ahead: dict[int, object] = {}

    def get(self, step: int, then: int | None):
        """The batch of `step`; starts building `then`'s (the step expected next), if given."""
        future = self.ahead.pop(step, None)
        batch = future.result() if future is not None else self.build(step)
        self.ahead.clear()
        if then is not None:
            self.ahead[then] = self.pool.submit(self.build, then)
        return batch

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class Trainer:
    """The jitted pieces of a pack (`cfgs`: RunConfigs that pass `check_pack`)."""

    def __init__(self, cfgs, mode: str = "vmap"):
        if mode not in ("vmap", "map"):
            raise ValueError(f"mode: vmap or map, got {mode!r}")
        self.mode = mode
        cfgs = list(cfgs) if isinstance(cfgs, (list, tuple)) else [cfgs]
        check_pack(cfgs)
        enable_compilation_cache()
        self.cfgs, self.cfg, self.size = cfgs, cfgs[0], len(cfgs)
        self.steps = flops.num_steps(self.cfg)
        self.groups = layout_groups(tuple(split_counts(self.cfg.data, self.cfg.train.batch_size)))
        self.graphdef, params = init_params(self.cfg, [c.seed for c in cfgs])
        self.tx = moments(self.cfg.optim, lr_scale(self.cfg))  # per-parameter multipliers under µP
        self.lrs = [lr_schedule(c.optim, max(self.steps, 1)) for c in cfgs]
        self.weight_decay = jnp.asarray([c.optim.weight_decay for c in cfgs], jnp.float32)
        self.state = (params, jax.vmap(self.tx.init)(params))
        self.alive = jnp.ones(self.size, bool)
        self._step = jax.jit(self._train_step)
        self._eval = jax.jit(self._eval_members, static_argnums=2)
        self._val: dict = {}
        self.batches = Prefetch(self._batch)

    # ------------------------------------------------------------ one member's math (vmapped)

    def _loss(self, params, batch):
        model = nnx.merge(self.graphdef, params)
        total = count = 0.0
        for split, b in batch.items():
            s, c = loss_sums(model(split, b["images"], b["text"]), b["text"])
            total, count = total + s, count + c
        return total / count

    def _member_step(self, state, batch, lr, weight_decay):
        params, opt_state = state
        loss, grads = jax.value_and_grad(self._loss)(params, batch)
        direction, opt_state = self.tx.update(grads, opt_state)
        return (apply(params, direction, lr, weight_decay), opt_state), loss, optax.tree.norm(grads)

    def _train_step(self, state, alive, batch, lr, weight_decay):
        new, loss, gnorm = self._over_members(self._member_step, (state, batch, lr, weight_decay))
        ok = alive & jnp.isfinite(loss) & jnp.isfinite(gnorm)

        def keep(n, o):
            return jnp.where(ok.reshape((-1,) + (1,) * (n.ndim - 1)), n, o)

        return jax.tree.map(keep, new, state), ok, loss, gnorm

    def _eval_members(self, params, batch, split: str):
        return self._over_members(lambda p: self._eval_sums(p, batch, split), (params,))

    def _over_members(self, fn, args):
        """fn over the member axis of every leaf of `args`: vmapped (`mode` vmap), one member after
        another inside the compiled call (`mode` map), or, for a lone run, unbatched (so a lone run's
        numbers are exactly those of an unpacked step)."""
        if self.size == 1:
            out = fn(*jax.tree.map(lambda x: x[0], args))
            return jax.tree.map(lambda x: x[None], out)
        if self.mode == "map":
            return jax.lax.map(lambda a: fn(*a), args)
        return jax.vmap(fn)(*args)

    def _eval_sums(self, params, batch, split: str):
        model = nnx.merge(self.graphdef, params)
        logits = model(split, batch["images"], batch["text"])
        if "soft" not in batch:
            return example_loss_sums(logits, batch["text"])
        return example_loss_sums(logits, batch["text"], soft=batch["soft"], noise=self.cfg.data.noise,
                                 noise_ids=syllable_ids())

    # ------------------------------------------------------------ the pack

    def _batch(self, step: int) -> dict:
        """Every member's batch of `step`, from its own seed: {layout: {images, text}} stacked
        on the member axis (a device array)."""
        raws = [train_batch(c.data, c.seed, step, c.train.batch_size) for c in self.cfgs]
        return {first: {k: jnp.asarray(np.stack([np.concatenate([raw[s][k] for s in group]) for raw in raws]))
                        for k in ("images", "text")}
                for first, group in self.groups}

    def rates(self, step: int) -> list[float]:
        """Every member's main-line learning rate at `step` (0-based)."""
        return [lr(step) for lr in self.lrs]

    def step(self, step: int, rates=None, then: int | None = None):
        """Train every member on its batch `step` at `rates` (default: the main line's schedule);
        `then`: the step expected next (its batch is built meanwhile). Returns (ok, loss, grad
        norm), one entry per member, as device arrays (no host sync)."""
        batch = self.batches.get(step, then)
        rate = jnp.asarray(self.rates(step) if rates is None else rates, jnp.float32)
        self.state, self.alive, loss, gnorm = self._step(self.state, self.alive, batch, rate, self.weight_decay)
        return self.alive, loss, gnorm

    def evaluate(self) -> list[dict[str, float]]:
        """Per member: mean next-token loss (nats per loss token) on every validation split; a
        weighted mean where the validation set carries weights (the kinds world's stratified sample)."""
        out = [{} for _ in range(self.size)]
        size = self.cfg.train.eval_batch_size
        for split in SPLITS:
            if split not in self._val:
                self._val[split] = val_batch(self.cfg.data, split)
            val = self._val[split]
            weight = val.get("weight")
            total = np.zeros(self.size)
            count = np.zeros(self.size)
            for i in range(0, len(val["text"]), size):
                chunk = {k: jnp.asarray(val[k][i:i + size]) for k in ("images", "text", "soft") if k in val}
                s, c = (np.asarray(a, np.float64) for a in self._eval(self.state[0], chunk, LAYOUT_KEY[split]))
                w = 1.0 if weight is None else weight[i:i + size]
                total += (w * s).reshape(self.size, -1).sum(axis=1)
                count += (w * c).reshape(self.size, -1).sum(axis=1)
            for m in range(self.size):
                out[m][f"eval/loss/{split}"] = float(total[m] / count[m])
        return out

    def member_state(self, i: int):
        return member(self.state, i)

    def set_member_states(self, states) -> None:
        """Replace every member's (params, optimizer state) (e.g. restored from checkpoints)."""
        self.state = stack(states)

    def close(self) -> None:
        self.batches.close()
