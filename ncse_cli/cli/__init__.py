"""The ``ncse`` command line: a thin Typer layer over :mod:`ncse_cli.api`.

Each command parses its flags, makes one call into :mod:`ncse_cli.api` and renders the result. Nothing here
imports the library at module level (the commands import :mod:`ncse_cli.api` when they run, and ``--help``
looks the library's defaults up only when a command's help is shown), so ``ncse --help`` starts in a fraction
of a second instead of importing torch.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ncse_cli import __version__
from ncse_cli.cli import demo, enhance, evaluate, experiment, models, prepare, report, train
from ncse_cli.cli._command import command
from ncse_cli.cli._common import console, setup_logging

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
app.command("train", cls=command(defaults="train", choices=train.CHOICES))(train.train_command)
app.command("enhance", cls=command(defaults="enhance"))(enhance.enhance_command)
app.command("evaluate", cls=command(defaults="evaluate", multi_values=evaluate.W_FLAGS + evaluate.SEED_FLAGS,
                                   multi_words=evaluate.REFERENCE_FLAGS))(evaluate.evaluate_command)
app.command("report", cls=command(defaults="report", choices={"summary_metrics": "metric"}))(report.report_command)
app.add_typer(models.app, name="models")
app.command("demo", cls=command(defaults="demo"))(demo.demo_command)
experiment.app.command("run", cls=command(defaults="experiment run"))(experiment.run_command)
experiment.app.command("status", cls=command(defaults="experiment status"))(experiment.status_command)
app.add_typer(experiment.app, name="experiment")


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
