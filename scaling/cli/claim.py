"""`scaling claim <name>`: one command per row of `scaling.claims.registry`, generated from it.

Each command reads its input (a table: a CSV or a sweep folder; or a test-time study's rows),
judges the claim with the options given (checked by the registry before anything is read) and
prints the claim's lines, or with --json its verdict record (`scaling.claims.record`).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import List, Optional

import typer

from scaling.claims import record, registry
from scaling.cli import app
from scaling.errors import DataError
from scaling.fit.io import read_table
from scaling.testtime.study import read_rows

claim_app = typer.Typer(no_args_is_help=True, help="Verdicts on stated claims about curves.")
app.add_typer(claim_app, name="claim")



def _study_rows(path) -> list:
    """A study's rows; a line that is not JSON is a DataError naming the file and line."""
    try:
        return read_rows(path)
    except UnicodeDecodeError:
        raise DataError(f"{path}/records.jsonl: not UTF-8 text") from None
    except ValueError as err:  # json.JSONDecodeError, raised per line: find which
        lines = (Path(path) / "records.jsonl").read_text().splitlines()
        bad = next((i for i, ln in enumerate(lines, 1) if ln.strip() and not _parses(ln)), "?")
        raise DataError(f"{path}/records.jsonl: line {bad} is not JSON ({getattr(err, 'msg', err)})") from None


def _parses(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except ValueError:
        return False


#: how each kind of claim input is read from the path given on the command line
READERS = {"table": read_table, "rows": _study_rows}
_KW = inspect.Parameter.KEYWORD_ONLY


def _parameter(o) -> inspect.Parameter:
    """A typer option from a registry option row."""
    kind = List[o.type] if o.many else Optional[o.type] if o.default is None else o.type
    default = ... if o.required else o.default
    return inspect.Parameter(o.name, _KW, default=typer.Option(default, o.cli_flag, help=o.help), annotation=kind)


def _command(row: registry.Claim):
    def command(source: Path, json_out: bool = False, **options) -> None:
        opts = row.resolve(**options)  # bad options fail before the input is read
        result = registry.judge(row.name, READERS[row.source](source), where=str(source), **opts)
        typer.echo(record.dumps(result.to_record()) if json_out else "\n".join(result.lines))

    params = [inspect.Parameter("source", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Path,
                                default=typer.Argument(..., help=row.source_help)),
              *map(_parameter, row.options),
              inspect.Parameter("json_out", _KW, annotation=bool,
                                default=typer.Option(False, "--json", help="Print the verdict record (JSON)."))]
    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = row.help or row.question
    command.__name__ = f"claim_{row.name}"
    return command


def sync() -> None:
    """One command for every registered claim not yet on the group (a claim registered later too)."""
    have = {c.name for c in claim_app.registered_commands}
    for name in registry.names():
        if name not in have:
            claim_app.command(name)(_command(registry.get(name)))


sync()
