"""The ``ncse`` command line: a thin Typer layer over :mod:`ncse_cli.api`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ncse_cli import __version__
from ncse_cli.cli import demo, enhance, evaluate, models, prepare, report, train
from ncse_cli.cli._common import console, setup_logging
from ncse_cli.cli.multivalue import multi_value_command

app = typer.Typer(
    name="ncse",
    help="Noise-conditioned score-based speech enhancement: prepare data, train, enhance, evaluate, report.",
    epilog="New here? [bold]ncse demo[/] runs the whole pipeline offline in a few minutes. "
           "Every command has --help.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
)
app.add_typer(prepare.app, name="prepare")
app.command("train")(train.train_command)
app.command("enhance")(enhance.enhance_command)
app.command("evaluate", cls=multi_value_command(*evaluate.CFG_SCALE_FLAGS))(evaluate.evaluate_command)
app.command("report")(report.report_command)
app.add_typer(models.app, name="models")
app.command("demo")(demo.demo_command)


def _version(value: bool) -> None:
    if value:
        console.print(f"ncse {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug messages.")] = False,
) -> None:
    setup_logging(verbose)


def main() -> None:
    """Console-script entry point."""
    app()
