"""Command-line interface: the only place that prints for humans.

Each sub-command lives in its own module (listed in ``COMMANDS``) and registers itself on ``app``;
``main`` turns every ``ScalingError`` (and a file-system refusal of a named path) into one line on
stderr and exit code 2. `scaling --version`, `-h` everywhere, shell completion
(`scaling --install-completion`).
"""

from __future__ import annotations

import sys

import typer

from scaling.errors import ScalingError

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(no_args_is_help=True, help="Scaling-law experiments.", context_settings=HELP,
                  pretty_exceptions_enable=False)
bench_app = typer.Typer(no_args_is_help=True, help="Throughput and speed benchmarks.", context_settings=HELP)
app.add_typer(bench_app, name="bench")

# The command modules, each adding its commands to `app` / `bench_app` when imported (a module not
# written yet is skipped). A new command group: one more line here.
COMMANDS = (
    "train",
    "fit",
    "sweep",
    "rl",
    "compare",
    "planning",
    "report",
    "claim",
    "testtime",
    "forecast",
)


def _version(value: bool) -> None:
    if value:
        from scaling import __version__

        typer.echo(f"scaling {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Scaling-law experiments: sweep -> runs -> records -> fitted laws -> verdicts."""


def _register() -> None:
    import importlib

    for name in COMMANDS:
        try:
            importlib.import_module(f"scaling.cli.{name}")
        except ModuleNotFoundError as err:  # a sub-command not written yet
            if err.name != f"scaling.cli.{name}":
                raise


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; exit status 0 ok, 1 a run failed, 2 bad input (one line on stderr), 130 interrupted."""
    _register()
    try:
        rc = app(args=argv, prog_name="scaling", standalone_mode=False)  # click returns a typer.Exit's code here
    except ScalingError as err:
        typer.echo(f"error: {err}", err=True)
        return 2
    except OSError as err:  # the file system refused a path the user gave (unwritable, missing, full)
        if err.filename is None:
            raise
        typer.echo(f"error: {err.filename}: {err.strerror or err}", err=True)
        return 2
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        return 130
    except typer.Exit as err:
        return err.exit_code
    except Exception as err:  # click's usage errors (typer's own copy of click, or click itself)
        if _usage_error(err):  # one line, as every other refusal: what was wrong and where help is
            ctx = getattr(err, "ctx", None)
            if not err.format_message().strip():  # no arguments: the help was the answer
                return getattr(err, "exit_code", 2)
            where = f"{ctx.command_path}: " if ctx is not None else ""
            see = f" (see '{ctx.command_path} -h')" if ctx is not None else ""
            typer.echo(f"error: {where}{' '.join(err.format_message().split())}{see}", err=True)
            return getattr(err, "exit_code", 2) or 2
        raise
    return rc if isinstance(rc, int) else 0


def _usage_error(err: Exception) -> bool:
    kinds = tuple(k for k in (getattr(typer, "TyperException", None), _click_exception()) if k is not None)
    return isinstance(err, kinds) and hasattr(err, "show")


def _click_exception():
    try:
        import click
    except ImportError:
        return None
    return click.ClickException


def entry() -> None:
    sys.exit(main())
