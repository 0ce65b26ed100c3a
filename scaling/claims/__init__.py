"""Claims: turn fitted curves into verdicts, each with its test stated.

- `multiplier`: "candidate reaches the baseline's loss with k x less compute" (hierarchical,
  paired, censored bootstrap; rules in `rules`).
- `loglinear`: "a metric grows log-linearly in compute" against a curve that bends (ScaleRL sigmoid).
- `text`: the lines the CLI prints and the report writes.
"""

from scaling.claims.multiplier import compare
from scaling.claims.rules import parse_claim, parse_margin, verdict
from scaling.claims.loglinear import loglinear_claim

__all__ = ["compare", "loglinear_claim", "parse_claim", "parse_margin", "verdict"]
