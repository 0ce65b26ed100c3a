"""Verdict records: every claim's result as one versioned JSON object, for people, agents and CI.

Schema ``scaling.verdict/1`` (one JSON object; NaN and infinities are written as null):

    schema         "scaling.verdict/1": the name and version of this layout
    claim          the claim's name in `scaling.claims.registry` (e.g. "loglinear")
    question       the claim's question in words
    subject        what was judged, in a few words (e.g. "early vs baseline, claim 2x")
    summary        one line: claim, subject, verdict (what `scaling report` prints)
    verdict        the combined verdict: one of supported, equivalent, refuted, inconclusive,
                   or "not judged" (an estimate with no stated claim)
    verdicts       {estimator or metric: verdict}, the words the combined verdict was made from
    combined_rule  how the per-part verdicts were combined, in words
    test           the stated test, one sentence
    unit           what the bootstrap resampled (configurations, seeds, runs, points, problems ...)
    estimates      [{name, value, lo, hi, level, verdict}]: each estimate with its interval at
                   two-sided `level`; `verdict` where the estimate is judged by itself, else null
    warnings       [str]: what the reader should know before trusting the verdict
    refusals       [str]: parts of the claim that could not be judged, each with its reason
    options        {option: value}: every option the claim was judged with, defaults included;
                   `scaling.claims.registry.judge(claim, data, **options)` re-derives the record
    inputs         {kind: "table" | "rows", rows: int, hash: "sha256:<hex>"}: the input's content
                   hash (`scaling.claims.base.inputs_of`): a table's columns sorted by name, each
                   hashed with pandas' hash_pandas_object, rows in order; a study's rows as
                   canonical JSON
    code           the code version of `scaling.provenance` (what decides a run's records)
    version        the scaling package's version
    provenance     `scaling.provenance.provenance()`: code, git commit and dirty flag, packages,
                   device, host
    created        when the record was written (UTC, ISO 8601)
    details        the claim's full payload (the engine's dict: every number behind the verdict)
    lines          the lines for humans (what `scaling claim <name>` prints)

Re-deriving a verdict: judge the table whose hash is `inputs.hash` with `options`; the new record
equals this one in every field but `provenance` and `created` (and `code`/`version` when the
package changed). A reader refuses another schema (:func:`read_record`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from scaling import __version__
from scaling.claims import rules
from scaling.errors import DataError
from scaling.provenance import provenance
from scaling.records import jsonable

NAME, VERSION = "scaling.verdict", 1
SCHEMA = f"{NAME}/{VERSION}"
#: fields that differ between two derivations of the same verdict (when and where it was made)
CIRCUMSTANCES = ("created", "provenance", "code", "version")
#: every field of a record and its JSON type
FIELDS = {"schema": str, "claim": str, "question": str, "subject": str, "summary": str, "verdict": str, "verdicts": dict, "combined_rule": str,
          "test": str, "unit": str, "estimates": list, "warnings": list, "refusals": list, "options": dict,
          "inputs": dict, "code": str, "version": str, "provenance": dict, "created": str, "details": dict,
          "lines": list}
ESTIMATE_FIELDS = ("name", "value", "lo", "hi", "level", "verdict")


def to_record(result) -> dict:
    """The verdict record of a :class:`scaling.claims.base.ClaimResult` (plain JSON values)."""
    prov = provenance()
    rec = {"schema": SCHEMA, "claim": result.claim, "question": result.question, "subject": result.subject,
           "summary": result.summary(), "verdict": result.verdict,
           "verdicts": dict(result.verdicts), "combined_rule": result.combined_rule, "test": result.test,
           "unit": result.unit,
           "estimates": [{k: getattr(e, k) for k in ESTIMATE_FIELDS} for e in result.estimates],
           "warnings": list(result.warnings), "refusals": list(result.refusals), "options": dict(result.options),
           "inputs": dict(result.inputs), "code": prov["code"], "version": __version__, "provenance": prov,
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "details": dict(result.details),
           "lines": list(result.lines)}
    return jsonable(rec)


def validate(rec) -> dict:
    """``rec`` if it is a well-formed record of this schema; DataError naming the first fault."""
    if not isinstance(rec, dict):
        raise DataError(f"a verdict record is a JSON object, got {type(rec).__name__}")
    schema = rec.get("schema")
    if not isinstance(schema, str) or schema.rpartition("/")[0] != NAME:
        raise DataError(f"not a verdict record (schema {schema!r}; expected {SCHEMA!r})")
    if schema != SCHEMA:
        raise DataError(f"verdict record schema {schema!r}: this scaling {__version__} reads {SCHEMA!r} only")
    for name, kind in FIELDS.items():
        if not isinstance(rec.get(name), kind):
            raise DataError(f"verdict record: field {name!r} must be a {kind.__name__}, got {rec.get(name)!r:.60}")
    for name, word in [*rec["verdicts"].items(), ("verdict", rec["verdict"])]:
        if word not in rules.VOCABULARY:
            raise DataError(f"verdict record: {name} {word!r} is not one of {', '.join(rules.VOCABULARY)}")
    for e in rec["estimates"]:
        if not isinstance(e, dict) or set(e) != set(ESTIMATE_FIELDS):
            raise DataError(f"verdict record: an estimate must have the fields {', '.join(ESTIMATE_FIELDS)}: {e!r:.80}")
    if not {"kind", "rows", "hash"} <= set(rec["inputs"]):
        raise DataError("verdict record: inputs must name kind, rows and hash")
    return rec


def read_record(source) -> dict:
    """A verdict record from a dict, a JSON string or a file path, checked (:func:`validate`)."""
    if isinstance(source, dict):
        return validate(source)
    if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith("{")):
        path = Path(source)
        try:
            text = path.read_text()
        except OSError as err:
            raise DataError(f"{path}: cannot read the verdict record ({err.strerror or err})") from None
    else:
        text = source
    try:
        return validate(json.loads(text))
    except json.JSONDecodeError as err:
        raise DataError(f"verdict record: not JSON ({err.msg} at line {err.lineno})") from None


def dumps(rec: dict) -> str:
    """The record as JSON text (sorted keys, as the report writes it)."""
    return json.dumps(rec, indent=2, sort_keys=True)


def same_verdict(a: dict, b: dict) -> bool:
    """Whether two records say the same thing, apart from when and where they were made."""
    strip = lambda r: {k: v for k, v in r.items() if k not in CIRCUMSTANCES}  # noqa: E731
    return strip(a) == strip(b)
