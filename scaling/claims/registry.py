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

from scaling.claims import loglinear, multiplier, parallel, phases
from scaling.claims.base import ClaimResult, inputs_of
from scaling.claims.options import REQUIRED, Option, resamples, resolve, trim
from scaling.claims.rules import NOT_JUDGED, parse_claim, parse_margin
from scaling.errors import ConfigError, ScalingError
from scaling.fit.io import check_ids, check_keys, require_columns

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
    key: Callable[[dict, list], list] | None = None  # (options, table columns) -> the table's key columns
    subject: Callable[[dict], str] = lambda options: ""  # options -> what is judged, in a few words

    def check_table(self, df, opts: dict, where: str = "the table"):
        """(table, rows dropped): the columns the options name exist, ids are not empty, and each key
        names one row (exact repeats dropped, and counted, only with drop_duplicates)."""
        require_columns(df, {o.cli_flag: v for o in self.options if o.column
                             for v in (opts[o.name] if o.many else [opts[o.name]])})
        check_ids(df, [opts[o.name] for o in self.options if o.column == "id"])
        if self.key is None:
            return df, 0
        return check_keys(df, self.key(opts, list(df.columns)), where, opts.get("drop_duplicates", False))

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ConfigError(f"claim {self.name}: source {self.source!r} is not one of {', '.join(SOURCES)}")

    def resolve(self, **given) -> dict:
        """Every option, checked, defaults filled in (what the record stores)."""
        return resolve(self.options, given, self.name)


def _boot(default: int) -> Option:
    return Option("n_boot", int, default, "Bootstrap resamples.", "--bootstrap", check=resamples)


DROP = Option("drop_duplicates", bool, False, "Drop rows that repeat another row entirely (counted); a key "
              "(run, step or compute, point) twice with other values stays an error.")


def _step_or(x: str, columns: list) -> str:
    """A record's position along its run: the step where the table has one, else the compute."""
    return "step" if "step" in columns else x


def _against(o: dict) -> str:
    ys = o["y"] if isinstance(o["y"], list) else [o["y"]]
    return f"{', '.join(ys)} against {o['x']}" + (f" by {o['group']}" if o.get("group") else "")


def _multiplier_key(o: dict, cols: list) -> list:
    return [o["run_col"], _step_or(o["x"], cols), "point"]


def _loglinear_key(o: dict, cols: list) -> list:
    run = o["run_col"] or next((c for c in ("run_id", "run") if c in cols and c != o["group"]), None)
    return [o["group"], run, o["split_col"], _step_or(o["x"], cols)] if run else []


def _phases_key(o: dict, cols: list) -> list:
    return [o["group"], o["seed_col"], "run_id", _step_or(o["x"], cols)]


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
        Option("run_col", str, "run_id", "Run column.", column="id"),
        Option("recipe_col", str, "recipe", "Recipe column.", column="id"),
        Option("seed_col", str, None, "Seed column (seeds within configurations are the replicates).",
               column="id"),
        _boot(1000),
        Option("trim", float, 0.1, "Drop each run's points below this fraction of its final compute.", check=trim),
        Option("extrapolate", bool, False, "Allow targets outside the common loss range."),
        Option("include_mid", bool, False, "Use mid-run points too."),
        Option("seed", int, 0, "Seed of the resampling."),
        DROP,
    ), key=_multiplier_key,
        subject=lambda o: f"{o['candidate']} vs {o['baseline']}" + (f", claim {o['claim']:g}x" if o["claim"] else ""),
        help="Compute multiplier of the candidate over the baseline at equal loss (as `scaling compare`)."),
    Claim("loglinear", loglinear.QUESTION, loglinear.judge, (
        Option("x", str, REQUIRED, "Compute column (e.g. RL FLOPs or GPU-hours).", column="data"),
        Option("y", str, REQUIRED, "Metric column (repeatable), e.g. pass@1 and pass@16.", many=True,
               column="data"),
        Option("group", str, None, "Analyse each value of this column separately.", column="id"),
        Option("split_col", str, None, "Column whose value 'heldout' marks held-out points.", column="data"),
        Option("holdout", float, 1 / 3, "Without --split-col: held-out fraction of the log-compute range."),
        Option("run_col", str, None, "Run column: whole runs are resampled (a verdict needs >= 5 runs; default "
               "run_id or run when present).", column="id"),
        Option("warmup", int, None, "Learning-rate warmup in steps: left out, compute counted lr-weighted (default: "
               "from a sweep's steps and optim.warmup columns, else 0).", check=loglinear.check_steps),
        Option("burn_in", int, None, "Steps after the warmup also left out (default: a fifth of the warmup).",
               check=loglinear.check_steps),
        _boot(1000),
        Option("seed", int, 0, "Seed of the resampling."),
        DROP,
    ), key=_loglinear_key, subject=_against, source_help="A CSV (or sweep folder) with compute and metric columns.",
        help="Slope per decade, curvature, held-out log-linear vs sigmoid, and a verdict per metric."),
    Claim("phases", phases.QUESTION, phases.judge, (
        Option("x", str, "rl/flops", "RL compute column.", column="data"),
        Option("y", str, ["eval/length/heldout"], "Length column (repeatable).", many=True, column="data"),
        Option("seed_col", str, "seed", "Seed column (whole seeds are resampled).", column="id"),
        Option("group", str, None, "Analyse each value separately (e.g. grpo.length_coef).", column="id"),
        _boot(400),
        Option("replicate", float, 0.5, "Supported needs more than this fraction of seeds to replicate.",
               check=phases.replicate_fraction),
        Option("min_seg", int, phases.MIN_SEG, "Distinct compute values per segment, at least.",
               check=phases.segment_points),
        DROP,
    ), key=_phases_key, subject=_against, source_help="An RL sweep folder or a CSV with compute, length and seed columns.",
        help="Piecewise-linear length vs log compute (0/1/2 breakpoints by BIC), slope intervals over seeds, verdict."),
    Claim("parallel", parallel.QUESTION, parallel.judge, (
        Option("scheme", str, "agents", "vote, best or agents.", check=parallel.check_scheme),
        Option("flat", float, 1.25, "Largest M_max/M=1 ratio that counts as flat.", check=parallel.check_flat),
        _boot(1000),
        Option("seed", int, 0, "Seed of the resampling."),
    ), source="rows", subject=lambda o: f"scheme {o['scheme']}", source_help="A `scaling testtime` output folder.",
        help="Accuracy gain per doubling of M, critical-path and latency ratios with CIs, coverage law, vote null."),
)

CLAIMS: dict[str, Claim] = {row.name: row for row in ROWS}


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
