"""The jitted pieces of a pack of runs: init, one training step, evaluation, vmapped over members.

A pack is a set of runs that share every shape (family, width, depth, heads, sequence layout,
batch size, token budget, schedule shape: `pack_key`) and differ only in per-run scalars: seed
(initialisation and data order), peak learning rate and weight decay (`scaling.pack`). One compiled step trains
them all over stacked parameters and optimizer states (`jax.vmap`). A lone run is a pack of one.

A member whose loss or gradient norm is not finite stops updating at that step (its state is kept
as it was before the step) while the others go on; `alive` records it on the device, so the loop
never waits on the device to find out (it reads the flags at its sync points).

Several steps run in one compiled call (`run`: a `lax.scan` over a chunk of up to `CHUNK` steps,
their learning rates passed as a [CHUNK, members] array), so the host dispatches, converts and
waits once per chunk rather than once per step; a chunk shorter than `CHUNK` skips its unused
slots (`lax.cond`), so one compiled program serves every chunk of a shape. A step's arithmetic is
the same whichever chunk it falls in (the scan body is one step; a skipped slot leaves the state
exactly as it was), so where chunks start and end never changes a record.

Batches are built on the host in NumPy, a chunk ahead: the next chunk's batches are prepared in a
background thread while the device runs the current chunk (`Prefetch`).
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

CHUNK = 10  # steps per compiled call: amortises dispatch; divides the default log_every (50)

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
    """The pack's batches for a key (a chunk: (first step, steps)), built one key ahead in a
    background thread (NumPy releases the GIL in its kernels, so the host builds the next chunk's
    batches while the device trains). The latest key's batches are kept: a cooldown branch and the
    main line that resumes after it train on the same steps' batches."""

    def __init__(self, build_batch):
        self.build = build_batch
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="batches")
        self.ahead: dict = {}
        self.last: tuple | None = None

    def get(self, key, then=None):
        """The batches of `key`; starts building `then`'s (the key expected next), if given."""
        if self.last is not None and self.last[0] == key:
            batch = self.last[1]
        else:
            future = self.ahead.pop(key, None)
            batch = future.result() if future is not None else self.build(key)
        self.ahead = {k: f for k, f in self.ahead.items() if k == then}
        if then is not None and then not in self.ahead and then != key:
            self.ahead[then] = self.pool.submit(self.build, then)
        self.last = (key, batch)
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
        self._chunk = jax.jit(self._train_chunk)
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

    def _train_chunk(self, state, alive, batches, rates, active, weight_decay):
        """`_train_step` over a chunk's slots ([CHUNK, ...] leading axis); an inactive slot is
        skipped (state and flags unchanged, loss and grad norm 0). Returns (state, alive, per slot:
        alive after it, loss, grad norm)."""
        zero = jnp.zeros(self.size, jnp.float32)

        def slot(carry, xs):
            batch, rate, on = xs

            def train(c):
                new, ok, loss, gnorm = self._train_step(*c, batch, rate, weight_decay)
                return (new, ok), (loss, gnorm)

            carry, (loss, gnorm) = jax.lax.cond(on, train, lambda c: (c, (zero, zero)), carry)
            return carry, (carry[1], loss, gnorm)

        (state, alive), (oks, loss, gnorm) = jax.lax.scan(slot, (state, alive), (batches, rates, active))
        return state, alive, oks, loss, gnorm

    def _eval_members(self, params, batch, split: str):
        # one member after another: measured ~2x cheaper than vmapped on CPU for the demo's
        # shapes, and each member's numbers are then exactly a lone run's
        return self._over_members(lambda p: self._eval_sums(p, batch, split), (params,), "map")

    def _over_members(self, fn, args, mode: str | None = None):
        """fn over the member axis of every leaf of `args`: vmapped (`mode` vmap), one member after
        another inside the compiled call (`mode` map), or, for a lone run, unbatched (so a lone run's
        numbers are exactly those of an unpacked step). `mode` defaults to the trainer's."""
        if self.size == 1:
            out = fn(*jax.tree.map(lambda x: x[0], args))
            return jax.tree.map(lambda x: x[None], out)
        if (mode or self.mode) == "map":
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

    def _batch(self, key: tuple[int, int]) -> dict:
        """Every member's batches of the chunk `key` = (first step, steps), each from its own seed:
        {layout: {images, text}}, [CHUNK, members, ...] device arrays (unused slots zero)."""
        first, count = key
        out = None
        for j in range(count):
            for m, c in enumerate(self.cfgs):
                raw = train_batch(c.data, c.seed, first + j, c.train.batch_size)
                if out is None:  # shapes from the first batch: [CHUNK, members, examples, ...]
                    out = {g: {k: np.zeros((CHUNK, self.size, sum(len(raw[s][k]) for s in group))
                                           + raw[group[0]][k].shape[1:], raw[group[0]][k].dtype)
                               for k in ("images", "text")} for g, group in self.groups}
                for g, group in self.groups:
                    for k in ("images", "text"):
                        out[g][k][j, m] = np.concatenate([raw[s][k] for s in group])
        return jax.tree.map(jnp.asarray, out)

    def rates(self, step: int) -> list[float]:
        """Every member's main-line learning rate at `step` (0-based)."""
        return [lr(step) for lr in self.lrs]

    def run(self, first: int, count: int, rates=None, then: tuple[int, int] | None = None):
        """Train every member on its batches of steps first .. first+count-1 (count <= CHUNK) in
        one compiled call, at `rates` ([count][members]; default: the main line's schedule);
        `then`: the chunk (first, count) expected next (its batches are built meanwhile). Returns
        (ok, loss, grad norm), each [CHUNK, members] device arrays (no host sync) whose first
        `count` rows are the chunk's steps (slicing them here would cost a dispatch each)."""
        if not 1 <= count <= CHUNK:
            raise ValueError(f"a chunk holds 1 to {CHUNK} steps, got {count}")
        batches = self.batches.get((first, count), then)
        table = np.zeros((CHUNK, self.size), np.float32)
        table[:count] = [self.rates(first + j) for j in range(count)] if rates is None else rates
        active = np.arange(CHUNK) < count
        self.state, self.alive, oks, loss, gnorm = self._chunk(self.state, self.alive, batches, table, active,
                                                               self.weight_decay)
        return oks, loss, gnorm

    def step(self, step: int, rates=None, then: int | None = None):
        """One step (`run` with a chunk of one): (ok, loss, grad norm) per member, device arrays."""
        ok, loss, gnorm = self.run(step, 1, None if rates is None else [rates],
                                   None if then is None else (then, 1))
        return ok[0], loss[0], gnorm[0]

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
