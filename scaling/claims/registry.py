"""One registry of claims: one row per claim. A new claim type is one module (a ``judge`` that
returns a :class:`scaling.claims.base.ClaimResult`) plus one row here (or :func:`register`).

A row names the claim, its question, its judge, what it reads (``source``: "table", a CSV or a
sweep folder as a DataFrame; "rows", a test-time study folder's rows) and its options
(:class:`scaling.claims.options.Option`: types, defaults, help, flags, domain checks).
`scaling claim <name>` is generated from the rows, and :func:`judge` is the one way in from Python:
it checks the options, runs the claim and stamps the result with its options and inputs' hash, so
its record (`result.to_record()`) can be re-derived.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from scaling.claims import gain, loglinear, multiplier, parallel, phases
from scaling.claims.base import ClaimResult, inputs_of
from scaling.claims.options import REQUIRED, Option, holdout, resamples, resolve, seed, trim
from scaling.claims.rules import NOT_JUDGED, parse_claim, parse_margin
from scaling.errors import ConfigError, ScalingError
from scaling.fit.io import Table, check_table
from scaling.fit.resample import check_memory

SOURCES = ("table", "rows")


@dataclass(frozen=True)
class Claim:
    """One registered claim: ``judge(data, **options) -> ClaimResult``."""

    name: str
    question: str
    judge: Callable[..., ClaimResult]
    options: tuple[Option, ...]
    source: str = "table"
    source_help: str = "A CSV or a sweep folder."
    help: str = ""
    table: Callable[[dict, list], Table] | None = None  # (options, table columns) -> what the claim reads
    subject: Callable[[dict], str] = lambda options: ""  # options -> what is judged, in a few words
    draw_bytes: Callable[[dict, int], float] = lambda options, rows: 128 * rows  # memory of one resample

    def check_table(self, df, opts: dict, where: str = "the table"):
        """(table, rows dropped): `scaling.fit.io.check_table` with what the options name: their
        columns exist (an optional one only when named), ids are not empty, one study, each key names
        one row (exact repeats dropped, and counted, only with drop_duplicates), values in their
        domains."""
        named = {}
        for o in self.options:
            if o.column and not (o.absent_ok and opts[o.name] == o.default):
                named[o.cli_flag] = opts[o.name]
        ids = tuple(opts[o.name] for o in self.options if o.column == "id" and opts[o.name] in df.columns)
        spec = self.table(opts, list(df.columns)) if self.table is not None else Table()
        spec = dataclasses.replace(spec, columns=named, ids=ids)
        return check_table(df, spec, where, opts.get("drop_duplicates", False))

    def check_memory(self, opts: dict, rows: int) -> None:
        """The resamples must fit in memory (a message naming --bootstrap, not a MemoryError)."""
        if "n_boot" in opts:
            check_memory(opts["n_boot"], self.draw_bytes(opts, rows))

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ConfigError(f"claim {self.name}: source {self.source!r} is not one of {', '.join(SOURCES)}")

    def resolve(self, **given) -> dict:
        """Every option, checked, defaults filled in (what the record stores)."""
        return resolve(self.options, given, self.name)


def _boot(default: int) -> Option:
    return Option("n_boot", int, default, "Bootstrap resamples.", "--bootstrap", check=resamples)


SEED = Option("seed", int, 0, "Seed of the resampling (an integer >= 0).", check=seed)
DROP = Option("drop_duplicates", bool, False, "Drop rows that repeat another row entirely (counted); a key "
              "(run, step or compute, point) twice with other values stays an error.")


def _step_or(x: str, columns: list) -> str:
    """A record's position along its run: the step where the table has one, else the compute."""
    return "step" if "step" in columns else x


def _against(o: dict) -> str:
    ys = o["y"] if isinstance(o["y"], list) else [o["y"]]
    return f"{', '.join(ys)} against {o['x']}" + (f" by {o['group']}" if o.get("group") else "")


def check_rows(rows, where: str = "the study") -> None:
    """A study's rows given in memory, checked as `scaling.testtime.rows.read_rows` checks a
    study's file (imported when asked: the test-time package imports JAX)."""
    from scaling.testtime.rows import check_rows as check_study_rows

    check_study_rows(rows, f"{where}/records.jsonl")


def _multiplier_table(o: dict, cols: list) -> Table:
    run = o["run_col"] if o["run_col"] in cols else None  # absent: each row its own run, no key but the row
    return Table(run=run, per_run=(o["recipe_col"], "config_id", o["seed_col"]),
                 key=(run, _step_or(o["x"], cols), "point") if run else (),
                 values={o["x"]: "positive", o["y"]: "positive"},
                 rows={o["recipe_col"]: (o["baseline"], o["candidate"])})


def _loglinear_table(o: dict, cols: list) -> Table:
    run = o["run_col"] or next((c for c in ("run_id", "run") if c in cols and c != o["group"]), None)
    key = (o["group"], run, o["split_col"], _step_or(o["x"], cols)) if run else ()
    return Table(run=run, per_run=(o["group"],), key=key, values={o["x"]: "positive", **{y: None for y in o["y"]}},
                 start_zero=(o["group"], run))


def _phases_table(o: dict, cols: list) -> Table:
    run = "run_id" if "run_id" in cols else None
    return Table(run=run, per_run=(o["group"], o["seed_col"]),
                 key=(o["group"], o["seed_col"], "run_id", o["step_col"] or _step_or(o["x"], cols)),
                 values={o["x"]: "positive", **{y: "nonnegative" for y in o["y"]}}, missing=tuple(o["y"]),
                 start_zero=(o["group"], o["seed_col"], run))


def _gain_table(o: dict, cols: list) -> Table:
    return Table(run=o["run_col"], per_run=(o["recipe_col"], o["group"]),
                 key=(o["group"], o["run_col"], o["step_col"]), values={y: "fraction" for y in o["y"]})


ROWS = (
    Claim("multiplier", multiplier.QUESTION, multiplier.judge, (
        Option("baseline", str, REQUIRED, "Recipe to compare against."),
        Option("candidate", str, REQUIRED, "Recipe whose compute saving is measured."),
        Option("claim", str, None, "Stated multiplier, e.g. 10x, 10 or 0.1x.", check=parse_claim),
        Option("margin", str, None, "Equivalence margin, e.g. 10%.", check=parse_margin),
        Option("at_loss", float, [], "Headline target loss (repeatable).", many=True),
        Option("at_compute", float, [], "Headline at the loss the baseline reaches at this compute (repeatable).",
               many=True),
        Option("x", str, "compute/flops", "Compute column.", column="data"),
        Option("y", str, "eval/loss/caption", "Loss column.", column="data"),
        Option("run_col", str, "run_id", "Run column (absent: each row its own run).", column="id",
               absent_ok=True),
        Option("recipe_col", str, "recipe", "Recipe column.", column="id"),
        Option("seed_col", str, None, "Seed column (seeds within configurations are the replicates).",
               column="id"),
        _boot(1000),
        Option("trim", float, 0.1, "Drop each run's points below this fraction of its final compute.", check=trim),
        Option("extrapolate", bool, False, "Allow targets outside the common loss range."),
        Option("include_mid", bool, False, "Use mid-run points too."),
        SEED,
        DROP,
    ), table=_multiplier_table,
        subject=lambda o: f"{o['candidate']} vs {o['baseline']}" + (f", claim {o['claim']:g}x" if o["claim"] else ""),
        help="Compute multiplier of the candidate over the baseline at equal loss (as `scaling compare`)."),
    Claim("loglinear", loglinear.QUESTION, loglinear.judge, (
        Option("x", str, REQUIRED, "Compute column (e.g. RL FLOPs or GPU-hours).", column="data"),
        Option("y", str, REQUIRED, "Metric column (repeatable), e.g. pass@1 and pass@16.", many=True,
               column="data"),
        Option("group", str, None, "Analyse each value of this column separately.", column="id"),
        Option("split_col", str, None, "Column whose value 'heldout' marks held-out points.", column="data"),
        Option("holdout", float, 1 / 3, "Without --split-col: held-out fraction of the log-compute range.",
               check=holdout),
        Option("run_col", str, None, "Run column: whole runs are resampled (a verdict needs >= 5 runs; default "
               "run_id or run when present).", column="id"),
        Option("warmup", int, None, "Learning-rate warmup in steps: left out, compute counted lr-weighted (default: "
               "from a sweep's steps and optim.warmup columns, else 0).", check=loglinear.check_warmup),
        Option("burn_in", int, None, "Steps after the warmup also left out (default: a fifth of the warmup).",
               check=loglinear.check_burn_in),
        _boot(1000),
        SEED,
        DROP,
    ), table=_loglinear_table, subject=_against, source_help="A CSV (or sweep folder) with compute and metric columns.",
        help="Slope per decade, curvature, held-out log-linear vs sigmoid, and a verdict per metric."),
    Claim("phases", phases.QUESTION, phases.judge, (
        Option("x", str, "rl/flops", "RL compute column (a step's x: log10 of its seeds' mean).", column="data"),
        Option("y", str, ["eval/think/heldout/closed/mean"], "Length column (repeatable); closed chains only by "
               "default, the chain rate beside it.", many=True, column="data"),
        Option("seed_col", str, "seed", "Seed column (whole seeds are resampled).", column="id"),
        Option("step_col", str, None, "Step column (a point of the curve; default 'step' where the table has "
               "it, else each seed's k-th evaluation by compute).", column="data"),
        Option("group", str, None, "Analyse each value separately (e.g. grpo.length_coef).", column="id"),
        _boot(400),
        Option("replicate", float, 0.5, "Supported needs more than this fraction of seeds to replicate.",
               check=phases.replicate_fraction),
        Option("min_seg", int, phases.MIN_SEG, "Steps per segment, at least.", check=phases.segment_points),
        Option("min_change", float, phases.MIN_CHANGE, "Smallest phase worth finding (refuted needs the power to "
               "find it): length change per phase, a fraction of the mean.", check=phases.change_fraction),
        SEED,
        DROP,
    ), table=_phases_table, draw_bytes=lambda o, rows: 8 * len(o["y"]) * (4 * rows + 300 * 32),  # ~276 breakpoint pairs
        subject=_against, source_help="An RL sweep folder or a CSV with compute, length, step and seed columns.",
        help="Three-phase strength of a two-breakpoint fit to the seed-mean length per step, with "
        "power and an equivalence bound; verdict."),
    Claim("parallel", parallel.QUESTION, parallel.judge, (
        Option("scheme", str, "agents", "vote, best or agents.", check=parallel.check_scheme),
        Option("flat", float, 1.25, "Largest ratio that counts as flat: critical path M_max / single sample, "
               "and tau(B) over tau(1).", check=parallel.check_flat),
        Option("min_gain", float, parallel.MIN_GAIN, "Smallest accuracy gain over a single sample (absolute) that "
               "counts: supported needs the interval's lower bound above it.", check=parallel.check_min_gain),
        _boot(1000),
        SEED,
    ), source="rows", draw_bytes=lambda o, rows: 8 * 4 * rows,  # accuracy, tokens and latency cubes per draw
        subject=lambda o: f"scheme {o['scheme']}", source_help="A `scaling testtime` output folder.",
        help="Accuracy over a single sample and a guess baseline, critical-path ratio, device tau(B), coverage "
             "law, vote null."),
)

GAIN = Claim("gain", gain.QUESTION, gain.judge, (
    Option("y", str, ["eval/pass@1/heldout"], "Pass-rate column eval/pass@<k>/<set> (repeatable).", many=True,
           check=gain.check_metrics, column="data"),
    Option("candidate", str, None, "RL recipe to judge (default: the one recipe besides the control arm)."),
    Option("control", str, None, "Random-reward arm's recipe (default: the recipe with grpo.reward=random)."),
    Option("group", str, None, "Judge each value of this column separately (e.g. grpo.length_coef).", column="id"),
    Option("run_col", str, "run_id", "Run column (whole runs are resampled).", column="id"),
    Option("recipe_col", str, "recipe", "Recipe column.", column="id"),
    Option("step_col", str, "step", "RL step column (step 0 is the starting model).", column="data"),
    Option("min_gain", float, 0.0, "Smallest gain over every control that counts as one.", check=gain.check_min_gain),
    _boot(1000),
    SEED,
    DROP,
), table=_gain_table, subject=lambda o: (f"{o['candidate']}: " if o["candidate"] else "") + ", ".join(o["y"]),
    source_help="An RL sweep folder (or a CSV of its records).",
    help="End-of-RL pass@k minus the starting model (greedy, sampled), a random-reward arm and guessing.")

CLAIMS: dict[str, Claim] = {row.name: row for row in (*ROWS, GAIN)}


def register(row: Claim) -> Claim:
    """Add a claim (a plug-in, or a test's throwaway one); a name already taken is a ConfigError."""
    if row.name in CLAIMS:
        raise ConfigError(f"claim {row.name!r} is already registered")
    CLAIMS[row.name] = row
    return row


def get(name: str) -> Claim:
    try:
        return CLAIMS[name]
    except KeyError:
        raise ConfigError(f"unknown claim {name!r} (claims: {', '.join(CLAIMS)})") from None


def names() -> list[str]:
    return list(CLAIMS)


def judge(name: str, data, *, where: str = "the table", **options) -> ClaimResult:
    """Judge claim ``name`` on ``data`` (a DataFrame, or a study's rows) with ``options`` (checked,
    defaults filled in): the result carries its options and inputs' hash."""
    row = get(name)
    opts = row.resolve(**options)
    dropped = 0
    if row.source == "table":
        table, dropped = row.check_table(data, opts, where)
    else:
        check_rows(data, where)
    row.check_memory(opts, len(table) if row.source == "table" else len(data))
    claim_opts = {k: v for k, v in opts.items() if k != DROP.name}
    result = row.judge(table if row.source == "table" else data, **claim_opts)
    if dropped:
        note = f"{dropped} row(s) that repeated another row entirely were dropped (--drop-duplicates)"
        result = dataclasses.replace(result, warnings=(*result.warnings, note), lines=(*result.lines, note))
    return dataclasses.replace(result, claim=row.name, question=row.question, options=opts, inputs=inputs_of(data),
                               subject=row.subject(opts))


def judge_or_refuse(name: str, data, **options) -> ClaimResult:
    """:func:`judge`, except that a claim the data cannot support (a DataError or FitError from the
    claim itself: too few runs, a missing column ...) comes back as a result, not an error: verdict
    "not judged", the reason in ``refusals`` and in its one line (a report keeps going). Bad options
    still raise."""
    row = get(name)
    opts = row.resolve(**options)
    try:
        return judge(name, data, **opts)
    except ScalingError as err:
        return ClaimResult(row.name, row.question, "", "", {}, NOT_JUDGED, "", refusals=(str(err),),
                           lines=(f"not computed: {err}",), options=opts, inputs=inputs_of(data),
                           subject=row.subject(opts))
