"""Markdown tables and the formatting of a summary cell."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

from ncse_cli.metrics import DEFAULT_METRICS, METRICS, MetricSummary

if TYPE_CHECKING:
    from ncse_cli.evaluation.results import ScoreSummary

MISSING = "–"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table (cells escaped for ``|``)."""
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
    return "\n".join([line(header), line(["---"] * len(header)), *(line(r) for r in rows)])


def format_value(value: float, metric: str) -> str:
    """A mean in the metric's table precision; NaN shows as a dash."""
    return MISSING if not math.isfinite(value) else f"{value:.{METRICS.get(metric).digits}f}"


def format_summary(summary: MetricSummary | None, metric: str, ci: bool = True) -> str:
    """``mean ± ci95`` (the interval only when asked and defined), plus how many utterances had no value."""
    if summary is None:
        return MISSING
    text = format_value(summary.mean, metric)
    if ci and math.isfinite(summary.ci95) and math.isfinite(summary.mean):
        text += f" ± {format_value(summary.ci95, metric)}"
    if summary.missing:
        text += f" ({summary.missing} missing)"
    return text


def metric_heading(metric: str) -> str:
    """``PESQ ↑``: every registered metric is better when higher."""
    return f"{METRICS.get(metric).label} ↑"


def summary_rows(summaries: Sequence[ScoreSummary],
                 metrics: Sequence[str] = DEFAULT_METRICS) -> tuple[list[str], list[list[str]]]:
    """Header and cells of a table of summaries: test set, model (``noisy input``), w, each metric, n."""
    header = ["test set", "model", "w", *(metric_heading(m) for m in metrics), "n"]
    rows = [[s.testset.name, "noisy input" if s.is_noisy else s.model or "", s.scale_text,
             *(format_summary(s.metrics.get(m), m) for m in metrics), str(s.utterances)] for s in summaries]
    return header, rows
