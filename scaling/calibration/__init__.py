"""Calibration of claims on synthetic data with a planted truth, on the design they will judge.

One module per calibrated claim (:data:`CLAIMS`: name -> module), each with the same interface:

    TRUTHS: rows (truth name in :data:`scaling.calibration.design.TRUTHS` or the module's own,
            expected verdict: "supported", "refuted", "not refuted" or "not supported")
    calibrate(draws, seed) -> list[Row]: per design and truth, the verdicts over ``draws``
            independent synthetic sweeps

A false SUPPORTED is a "supported" where the truth is not what the claim states (expected
"refuted" or "not supported"); a false REFUTED is a "refuted" where it is (expected "supported"
or "not refuted"). `python -m scaling.calibration <claim> --draws 200` prints the table.
"""

from __future__ import annotations

import importlib
from collections import Counter
from dataclasses import dataclass, field

from scaling.errors import ConfigError

#: calibrated claims: name -> module (imported when asked for: each may be slow to import)
CLAIMS = {
    "loglinear": "scaling.calibration.loglinear",
    "phases": "scaling.calibration.phases",
    "parallel": "scaling.calibration.parallel",
    "forecast": "scaling.calibration.forecast",  # coverage and errors, not verdicts: its own table
}

EXPECTED = ("supported", "refuted", "not refuted", "not supported")
#: which verdict is false under each expectation
FALSE = {"supported": "refuted", "not refuted": "refuted", "refuted": "supported", "not supported": "supported"}


@dataclass(frozen=True)
class Row:
    """One line of a calibration table: ``n`` draws of ``truth`` on ``design``, the verdict counts."""

    claim: str
    design: str
    truth: str
    expected: str
    n: int
    counts: dict = field(default_factory=dict)  # verdict -> draws
    note: str = ""

    def __post_init__(self):
        if self.expected not in EXPECTED:
            raise ConfigError(f"calibration row {self.truth}: expected verdict {self.expected!r} is not one of "
                              f"{', '.join(EXPECTED)}")

    def rate(self, verdict: str) -> float:
        return self.counts.get(verdict, 0) / self.n if self.n else float("nan")

    @property
    def false_supported(self) -> float | None:
        return self.rate("supported") if FALSE[self.expected] == "supported" else None

    @property
    def false_refuted(self) -> float | None:
        return self.rate("refuted") if FALSE[self.expected] == "refuted" else None

    @property
    def false_rate(self) -> float:
        return self.rate(FALSE[self.expected])


def row(claim: str, design: str, truth: str, expected: str, verdicts, note: str = "") -> Row:
    """A :class:`Row` from the list of verdicts of its draws."""
    verdicts = list(verdicts)
    return Row(claim, design, truth, expected, len(verdicts), dict(Counter(verdicts)), note)


def module(name: str):
    """The calibration module of claim ``name``; ConfigError naming it when there is none."""
    if name not in CLAIMS:
        raise ConfigError(f"calibration: no claim {name!r} (calibrated claims: {', '.join(CLAIMS)})")
    try:
        return importlib.import_module(CLAIMS[name])
    except ModuleNotFoundError as err:
        if err.name == CLAIMS[name]:
            raise ConfigError(f"calibration: claim {name!r} has no calibration module yet ({CLAIMS[name]})") from None
        raise


def calibrate(name: str, draws: int = 200, seed: int = 0) -> list[Row]:
    if draws < 1:
        raise ConfigError(f"--draws {draws}: at least 1")
    return module(name).calibrate(draws, seed)


def render(name: str, rows) -> str:
    """The rows as text: the module's own ``table`` when it has one (a forecast's coverage and
    errors are not verdicts), else :func:`table`."""
    return getattr(module(name), "table", table)(rows)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def table(rows: list[Row]) -> str:
    """The rows as a fixed-width text table (false rates and every verdict's share)."""
    head = ("claim", "design", "truth", "expected", "n", "false SUPP", "false REF", "supported", "refuted",
            "inconcl.", "not judged")
    lines = [head]
    for r in rows:
        lines.append((r.claim, r.design, r.truth, r.expected, str(r.n), _pct(r.false_supported),
                      _pct(r.false_refuted), _pct(r.rate("supported")), _pct(r.rate("refuted")),
                      _pct(r.rate("inconclusive")), _pct(r.rate("not judged"))))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    notes = [f"{r.design} / {r.truth}: {r.note}" for r in rows if r.note]
    return "\n".join(out + notes)
