"""Claims: turn fitted curves into verdicts.

- `multiplier`: "candidate reaches the baseline's loss with k x less compute" (with 95% intervals).
- `loglinear`: "a metric grows log-linearly in compute" against a curve that bends (ScaleRL sigmoid).
"""

from scaling.claims.multiplier import compare, parse_claim, verdict
from scaling.claims.loglinear import loglinear_claim

__all__ = ["compare", "loglinear_claim", "parse_claim", "verdict"]
