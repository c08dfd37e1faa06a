"""``ncse report``: the research plan's markdown tables from everything the workspace holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markdown import Markdown
from rich.markup import escape

from ncse_cli.cli._common import console, given, user_errors
from ncse_cli.cli._options import Workdir


@user_errors
def report_command(
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Also write the markdown to this file "
                                                "(atomically), the figures beside it, and the same report as one "
                                                "HTML page (the file with .html).", show_default=False)] = None,
    summary_metrics: Annotated[Optional[list[str]], typer.Option("--metric", help="Metric of the comparison "
                                                                 "summary across test-set groups (repeatable); the "
                                                                 "first is also drawn per noise type.")] = None,
    ci: Annotated[bool, typer.Option(help="Show 95% confidence intervals in the per-test-set tables.")] = True,
    workdir: Workdir = None,
) -> None:
    """Print the results as the research plan's markdown tables.

    Per test set: rows noisy input and model x w, columns PESQ, ESTOI, SI-SDR (mean ± 95% CI). Then the comparison
    summary across test-set groups (VB-DEMAND, OOD, Non-stat, Demo); with --out, bars per noise type beside the
    report and an HTML page. Every number is read from stored results.
    """
    from ncse_cli import api

    result = api.report(out=out, ci=ci, workdir=workdir, **given(summary_metrics=summary_metrics))
    if console.is_terminal:
        console.print(Markdown(result.markdown))
    else:  # redirected: the exact markdown
        typer.echo(result.markdown, nl=False)
    if out is not None:
        console.print(f"[dim]written to {escape(str(out))} and {escape(str(Path(out).with_suffix('.html')))}[/]")
