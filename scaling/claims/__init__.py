"""Claims: turn fitted curves into verdicts, each with its test stated.

- `base`: the contract: one result type (:class:`ClaimResult`, with :class:`Estimate`s) for every
  claim; `record`: its versioned JSON verdict record; `registry`: one row per claim (question,
  judge, options); `rules`: the verdict words and the rules that combine them; `options`: option rows.
- `multiplier`: "candidate reaches the baseline's loss with k x less compute" (hierarchical,
  paired, censored bootstrap; on `recipes` and `powerfits`).
- `loglinear`: "a metric grows log-linearly in compute" against a curve that bends (ScaleRL sigmoid).
- `phases`: "reasoning length lengthens, compresses, lengthens again"; `parallel`: "accuracy rises
  with parallel agents while latency stays flat".
- `text`: the lines the CLI prints and the report writes.
"""

from scaling.claims.multiplier import compare
from scaling.claims.rules import parse_claim, parse_margin, verdict
from scaling.claims.loglinear import loglinear_claim
from scaling.claims.base import ClaimResult, Estimate

__all__ = ["ClaimResult", "Estimate", "compare", "loglinear_claim", "parse_claim", "parse_margin", "verdict"]
