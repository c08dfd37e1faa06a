"""``ncse report``: the research plan's markdown tables from everything the workspace holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markdown import Markdown
from rich.markup import escape

from ncse_cli import api
from ncse_cli.cli._common import console, user_errors
from ncse_cli.cli._options import Workdir
from ncse_cli.metrics import DEFAULT_METRICS, METRICS


@user_errors
def report_command(
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Also write the markdown to this file "
                                                "(atomically).", show_default=False)] = None,
    metric: Annotated[Optional[list[str]], typer.Option(metavar=f"[{'|'.join(DEFAULT_METRICS)}]",
                                                        help="Metric of the comparison summary across test-set "
                                                             "groups (repeatable) \\[default: pesq].",
                                                        show_default=False)] = None,
    ci: Annotated[bool, typer.Option(help="Show 95% confidence intervals in the per-test-set tables.")] = True,
    workdir: Workdir = None,
) -> None:
    """Print the results as the research plan's markdown tables.

    Per test set: rows noisy input and model x w, columns PESQ, ESTOI, SI-SDR (mean ± 95% CI). Then the comparison
    summary across test-set groups (VB-DEMAND, OOD, Non-stat, Demo). Every number is read from stored results.
    """
    for name in metric or []:
        METRICS.get(name)  # an unknown name raises with the list of known ones
    result = api.report(out=out, summary_metrics=metric or ["pesq"], ci=ci, workdir=workdir)
    if console.is_terminal:
        console.print(Markdown(result.markdown))
    else:  # redirected: the exact markdown
        typer.echo(result.markdown, nl=False)
    if out is not None:
        console.print(f"[dim]written to {escape(str(out))}[/]")
