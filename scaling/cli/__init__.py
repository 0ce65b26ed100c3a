"""Command-line interface: the only place that prints for humans.

Each sub-command lives in its own module and registers itself on ``app``; ``main`` turns every
``ScalingError`` into one line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

import typer

from scaling.errors import ScalingError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Scaling-law experiments.")
bench_app = typer.Typer(no_args_is_help=True, help="Throughput and speed benchmarks.")
app.add_typer(bench_app, name="bench")


def _register() -> None:
    # Imported for their side effect of adding commands to `app` / `bench_app`.
    import importlib

    for name in ("train", "fit", "sweep", "rl", "compare", "report", "claims_extra", "testtime"):
        try:
            importlib.import_module(f"scaling.cli.{name}")
        except ModuleNotFoundError as err:  # a sub-command not written yet
            if err.name != f"scaling.cli.{name}":
                raise


def main(argv: list[str] | None = None) -> int:
    _register()
    try:
        rc = app(args=argv, standalone_mode=False)  # click returns a typer.Exit's code here
    except ScalingError as err:
        typer.echo(f"error: {err}", err=True)
        return 2
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 1
    except (typer.BadParameter, typer.Exit) as err:  # click usage errors
        if isinstance(err, typer.Exit):
            return err.exit_code
        err.show()
        return 2
    except Exception as err:  # click's UsageError family
        import click

        if isinstance(err, click.ClickException):
            err.show()
            return 2
        raise
    return rc if isinstance(rc, int) else 0


def entry() -> None:
    sys.exit(main())
