"""The one bootstrap of the package: hierarchical, paired, censored.

The independent unit of a sweep is a *configuration* (a point of the grid: size, learning rate,
...); its *seeds* are replicates. A resample draws configurations with replacement, then, inside
every drawn configuration, its seeds with replacement (a two-stage bootstrap). When every
configuration has >= 2 seeds the first stage keeps the grid as designed (each configuration once:
a stratified bootstrap of seeds), since a grid is a design and not a sample; without seeds each
configuration has one run and the scheme reduces to resampling whole runs (and says that it then
measures the grid's fragility). Items are runs (or, for
data with no run column, single points), and a resample is a vector of counts per item, so a fit
of every resample is one batched weighted fit.

Paired: when two recipes share a grid (the same configuration keys), :func:`draw_configs` is
called once and the same configuration draws serve both recipes.

Censored: a statistic can be +inf or 0 in a draw (a recipe never reached the target). Intervals
are order statistics of *all* draws, so such draws count, in the tail they belong to; NaN draws
(the statistic is undefined) are counted and reported, never silently dropped. Failed fits are
capped at 5% (:func:`check_failures`).

Whole runs: for a claim whose points lie along runs (an RL curve per seed), :func:`run_weights`
draws the runs with replacement (one configuration holding every run) and gives each point its
run's count, so a drawn run's points stay together and the spread between runs is what the
intervals measure.

API (also for ``scaling.claims.*``): ``units(configs, runs)`` -> :class:`Units`;
``draw(units, n_boot, rng)`` -> (n_boot, n_items) counts; ``run_weights(runs, n_boot, rng)`` ->
(n_boot, n_points) weights; ``interval(draws, level)``; ``summarize(point, draws)``;
``widen_about`` (a signed statistic's interval stretched by t/z).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from math import comb

import numpy as np
from scipy import stats

from scaling.errors import DataError, FitError

#: most failed fits tolerated among the resamples
MAX_FAILED = 0.05
#: fewest resamples accepted (a percentile interval from fewer is one of a handful of values)
MIN_RESAMPLES = 10
#: share of the machine's available memory the resamples of one command may take
MEMORY_SHARE = 0.5


def check_resamples(n, flag: str = "--bootstrap") -> int:
    """A number of resamples: an integer of at least :data:`MIN_RESAMPLES` that numpy can index
    (int64); DataError naming ``flag`` otherwise (before any data is read)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, (bool, np.bool_)) or n < MIN_RESAMPLES:
        raise DataError(f"{flag} {n}: at least {MIN_RESAMPLES} resamples are needed")
    if n > np.iinfo(np.int64).max:
        raise DataError(f"{flag} {n}: beyond a 64-bit integer; a few thousand resamples are plenty")
    return int(n)


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable on Linux, else the physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 34


def check_memory(n_boot: int, bytes_per_draw: float, flag: str = "--bootstrap") -> None:
    """DataError naming ``flag`` when ``n_boot`` resamples of ``bytes_per_draw`` each (an estimate
    of what one resample holds at once) would not fit in :data:`MEMORY_SHARE` of the memory
    available: a message, before the allocation, instead of a MemoryError or the kernel's kill."""
    need = float(n_boot) * float(bytes_per_draw)
    have = MEMORY_SHARE * available_memory()
    if need > have:
        most = max(int(have // max(bytes_per_draw, 1)), 0)
        raise DataError(f"{flag} {n_boot}: the resamples need about {_bytes(need)} of memory, more than "
                        f"{MEMORY_SHARE:.0%} of the {_bytes(have / MEMORY_SHARE)} available; at most about "
                        f"{most} fit here")


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PiB"


@dataclass(frozen=True)
class Units:
    """Items (runs) grouped into configurations.

    config: (n_items,) configuration index of each item, into ``keys``; keys: configuration
    labels (sorted; for pairing, the shared grid); members: per configuration, the item indices.
    """

    config: np.ndarray
    keys: tuple
    members: tuple

    @property
    def n_items(self) -> int:
        return int(self.config.size)

    @property
    def n_configs(self) -> int:
        return len(self.keys)

    @property
    def seeds(self) -> np.ndarray:
        """Seeds (items) per configuration."""
        return np.array([len(m) for m in self.members])

    def describe(self, item: str = "runs") -> str:
        """What a resample draws, in words."""
        s = self.seeds
        if s.max() <= 1:
            return (f"{self.n_configs} {item} (one seed per configuration) drawn with replacement: "
                    f"this measures how fragile the grid is, not seed noise")
        if stratified(self):
            return (f"seeds within each of {self.n_configs} configurations ({s.min()}-{s.max()} per "
                    f"configuration; {self.n_items} {item}); the grid is kept fixed")
        return (f"{self.n_configs} configurations drawn with replacement, then their seeds within "
                f"each ({s.min()}-{s.max()} per configuration; {self.n_items} {item})")


def units(configs, keys=None) -> Units:
    """Group items by configuration label. keys: the full label set (a shared grid for pairing);
    default: the sorted distinct labels."""
    labels = np.asarray(configs).astype(str)
    keys = tuple(sorted(set(labels))) if keys is None else tuple(map(str, keys))
    index = {k: i for i, k in enumerate(keys)}
    missing = sorted(set(labels) - set(index))
    if missing:
        raise FitError(f"configuration {missing[0]!r} is not in the shared grid")
    config = np.array([index[v] for v in labels], dtype=np.int64)
    members = tuple(np.flatnonzero(config == i) for i in range(len(keys)))
    return Units(config=config, keys=keys, members=members)


def run_weights(runs, n_boot: int, rng: np.random.Generator) -> tuple[np.ndarray, Units]:
    """Whole-run resampling of points: runs are the units, drawn with replacement (:func:`draw`
    on one configuration whose seeds are the runs), and each point weighs its run's count.
    runs: (n_points,) run label of every point. Returns ((n_boot, n_points) weights, the runs'
    :class:`Units`)."""
    keys, run_of_point = np.unique(np.asarray(runs).astype(str), return_inverse=True)
    u = units(np.zeros(len(keys), dtype=int))
    return draw(u, n_boot, rng, fixed_grid=True)[:, run_of_point], u


def draw_configs(n_configs: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n_configs) configuration indices drawn with replacement (reuse them to pair)."""
    return rng.integers(0, n_configs, size=(n_boot, n_configs))


def stratified(u: Units) -> bool:
    """Keep the grid fixed (resample seeds only) when every configuration has >= 2 seeds."""
    return bool(u.n_configs and u.seeds.min() >= 2)


def draw(u: Units, n_boot: int, rng: np.random.Generator, configs: np.ndarray | None = None,
         fixed_grid: bool | None = None) -> np.ndarray:
    """(n_boot, n_items) counts of a two-stage resample: configurations, then seeds within.

    configs: pre-drawn configuration indices (:func:`draw_configs`) to pair recipes on one grid;
    a drawn configuration with no items in this recipe contributes nothing. fixed_grid (default
    :func:`stratified`): every configuration once, seeds resampled within each. A grid is a
    design, not a sample: where seeds exist they are the replicates, and resampling the grid
    would measure its fragility (drop the largest size and the range vanishes) instead.
    """
    seeds = u.seeds
    s_max = max(int(seeds.max()), 1) if u.n_configs else 1
    # counts (n_items) and, per drawn configuration, uniforms, picks, items and a mask (s_max each)
    check_memory(n_boot, 8 * (u.n_items + 5 * max(u.n_configs, 1) * s_max))
    fixed = stratified(u) if fixed_grid is None else fixed_grid
    if fixed:
        D = np.tile(np.arange(u.n_configs), (n_boot, 1))
    else:
        D = draw_configs(u.n_configs, n_boot, rng) if configs is None else np.asarray(configs)
    order = np.concatenate([m for m in u.members]) if u.n_items else np.zeros(0, int)
    offset = np.concatenate([[0], np.cumsum(seeds)[:-1]])
    s = seeds[D]  # (B, K) seeds of each drawn configuration
    u01 = rng.random(size=D.shape + (s_max,))
    pick = np.floor(u01 * s[..., None]).astype(np.int64)  # seed index within the configuration
    valid = np.arange(s_max)[None, None, :] < s[..., None]
    item = order[np.clip(offset[D][..., None] + pick, 0, max(u.n_items - 1, 0))]
    counts = np.zeros((D.shape[0], u.n_items))
    b = np.broadcast_to(np.arange(D.shape[0])[:, None, None], item.shape)
    np.add.at(counts, (b[valid], item[valid]), 1.0)
    return counts


def n_distinct(n: int) -> int:
    """Distinct one-stage resamples of n units: C(2n-1, n)."""

    return comb(2 * n - 1, n)


def interval(draws, level: float = 0.95, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed percentile interval of all draws, censored ones (+-inf) included.

    Order statistics (inverted CDF), so infinite draws sit in their tail instead of breaking an
    interpolation; NaN draws are excluded (count them with :func:`summarize`).
    """
    d = np.asarray(draws, float)
    q = (1.0 - level) / 2.0
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column gives NaN bounds
        lo = np.nanquantile(d, q, axis=axis, method="inverted_cdf")
        hi = np.nanquantile(d, 1.0 - q, axis=axis, method="inverted_cdf")
    return lo, hi


def small_sample_factor(dof, level: float = 0.95):
    """t over z quantile: how much wider an interval resting on ``dof`` degrees of freedom of
    replicate spread must be than a normal-theory one (1 where dof is None, NaN or infinite).
    ``dof`` may be an array (one per statistic)."""
    if dof is None:
        return 1.0

    d = np.asarray(dof, float)
    q = 1 - (1 - level) / 2
    with np.errstate(invalid="ignore"):
        f = stats.t.ppf(q, np.maximum(np.where(np.isfinite(d), d, 1.0), 1.0)) / stats.norm.ppf(q)
    f = np.where(np.isfinite(d), f, 1.0)
    return float(f) if f.ndim == 0 else f


def jackknife(u: Units) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-seed-out counts for every configuration with >= 2 seeds: (rows (J, n_items),
    all ones but one item at 0; the configuration index of each row (J,))."""
    left = [(j, i) for j, m in enumerate(u.members) if len(m) >= 2 for i in m]
    rows = np.ones((len(left), u.n_items))
    rows[np.arange(len(left)), [i for _, i in left]] = 0.0
    return rows, np.array([j for j, _ in left], dtype=np.int64)


def seed_variances(values, config, seeds, rescaled: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per-configuration jackknife variance of a statistic from its leave-one-seed-out values.

    values: (J, T), the statistic on each :func:`jackknife` row (others at their full data);
    config: (J,) the row's configuration; seeds: seeds per configuration. The jackknife variance
    of configuration j is (s-1)/s sum_i (v_-i - mean)^2; ``rescaled``: the leave-one-out means
    were stretched by sqrt(s/(s-1)) as in a bootstrap draw (:meth:`RecipeData.mean`), so one
    more (s-1)/s undoes it. Returns (var (K, T), dof (K,) = s - 1) over configurations present."""
    v = np.asarray(values, float)
    config = np.asarray(config)
    ks = np.unique(config)
    var = np.zeros((ks.size, v.shape[1]))
    dof = np.zeros(ks.size)
    for n, k in enumerate(ks):
        rows = v[config == k]
        s = rows.shape[0]
        with np.errstate(invalid="ignore"):
            dev = rows - rows.mean(axis=0)
        var[n] = (s - 1) / s * np.sum(dev**2, axis=0) * ((s - 1) / s if rescaled else 1.0)
        dof[n] = int(seeds[k]) - 1
    return var, dof


def satterthwaite(var, dof) -> np.ndarray:
    """Welch-Satterthwaite degrees of freedom of a sum of independent variance estimates
    ``var`` (K, T), each with ``dof`` (K,): (sum v)^2 / sum(v^2 / dof), per column. A column with
    a non-finite contribution (a left-out seed moved the statistic out of reach) gets the fewest
    degrees of freedom of any configuration (conservative); an all-zero column gets inf."""
    var = np.asarray(var, float)
    dof = np.asarray(dof, float)[:, None]
    with np.errstate(all="ignore"):
        total = var.sum(axis=0)
        out = total**2 / np.sum(np.where(var > 0, var**2 / dof, 0.0), axis=0)
    out = np.where(np.isfinite(var).all(axis=0), out, dof.min() if dof.size else np.nan)
    return np.where(np.isfinite(var).all(axis=0) & (total == 0), np.inf, out)


def widen(lo, hi, centre, factor):
    """Stretch a positive interval about ``centre`` by ``factor`` (a number or one per column) in
    log space (0 and inf stay)."""
    lo, hi, centre, factor = (np.asarray(v, float) for v in (lo, hi, centre, factor))
    if np.all(factor == 1.0):
        return lo, hi
    ok = np.isfinite(centre) & (centre > 0)
    with np.errstate(all="ignore"):
        lo2 = np.where(ok & (lo > 0) & np.isfinite(lo), centre * (lo / centre) ** factor, lo)
        hi2 = np.where(ok & (hi > 0) & np.isfinite(hi), centre * (hi / centre) ** factor, hi)
    return lo2, hi2


def widen_about(lo, hi, centre, factor):
    """Stretch a signed statistic's interval about ``centre`` by ``factor`` (t/z,
    :func:`small_sample_factor`); :func:`widen` does it in log space for positive ones."""
    lo, hi, centre = (np.asarray(v, float) for v in (lo, hi, centre))
    return centre - factor * (centre - lo), centre + factor * (hi - centre)


def summarize(point, draws, level: float = 0.95, n_failed: int = 0, dof=None) -> dict:
    """Point, interval and diagnostics of a positive statistic (e.g. a multiplier), per column.

    draws: (n_boot, T); +inf and 0 are censored draws, NaN undefined ones (counted as 0 for
    ``lo`` and inf for ``hi``). dof: degrees of freedom of the replicate spread behind each
    column (a number or (T,); Welch-Satterthwaite over the configurations that move the statistic,
    :func:`satterthwaite`); the interval is widened by t_dof / z about the median draw in log space
    (the percentile interval rests on a variance estimated from few seeds; None: no widening).
    Returns value, lo, hi (``level``), lo90/hi90 (central 90%), frac_inf, frac_zero, frac_undefined (NaN), bias (median of log draws
    minus log point; NaN where undefined) and outside90 (point outside the central 90% of draws).
    """
    d = np.atleast_2d(np.asarray(draws, float))
    point = np.asarray(point, float) * np.ones(d.shape[1])
    # an undefined draw (neither recipe reached the target) could be anything in [0, inf]: it
    # counts as 0 for the lower bound and as inf for the upper one (conservative both ways)
    lo, _ = interval(np.where(np.isnan(d), 0.0, d), level)
    _, hi = interval(np.where(np.isnan(d), np.inf, d), level)
    lo90, hi90 = interval(d, 0.90)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanquantile(d, 0.5, axis=0, method="inverted_cdf") if d.size else np.nan
        bias = np.where((point > 0) & np.isfinite(point) & (med > 0) & np.isfinite(med),
                        np.log(med) - np.log(point), np.nan)
    # few replicates: the spread itself is uncertain (t, not z), so widen about the median
    lo, hi = widen(lo, hi, med, small_sample_factor(dof, level))
    return {"value": point, "lo": np.asarray(lo), "hi": np.asarray(hi), "lo90": np.asarray(lo90),
            "hi90": np.asarray(hi90), "frac_inf": np.mean(d == np.inf, axis=0),
            "frac_zero": np.mean(d == 0, axis=0), "frac_undefined": np.mean(np.isnan(d), axis=0),
            "bias": bias, "outside90": (point < lo90) | (point > hi90), "n_failed": int(n_failed),
            "level": level, "draws": d,
            "dof": np.full(d.shape[1], np.inf) if dof is None else np.broadcast_to(np.asarray(dof, float), d.shape[1:])}


def check_failures(ok, what: str) -> int:
    """Number of failed fits among the resamples; FitError naming ``what`` beyond 5%."""
    ok = np.asarray(ok, bool)
    failed = int((~ok).sum())
    if failed > MAX_FAILED * ok.size:
        raise FitError(f"{what}: {failed} of {ok.size} bootstrap fits failed (more than "
                       f"{MAX_FAILED:.0%}); the interval would rest on the resamples that happened to fit")
    return failed
