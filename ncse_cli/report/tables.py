"""Markdown tables and the formatting of a summary cell."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

from ncse_cli.metrics import DEFAULT_METRICS, METRICS, MetricSummary
from ncse_cli.report.stats import PairedComparison, SeedAggregate, Verdict

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
    return f"{metric_label(metric)} ↑"


def metric_label(metric: str) -> str:
    """``PESQ``, ``DNSMOS OVRL``: a metric's name in headings and sentences."""
    return METRICS.get(metric).label


def format_signed(value: float, metric: str) -> str:
    """A difference with its sign: ``+0.12``, ``-1.3``."""
    return MISSING if not math.isfinite(value) else f"{value:+.{METRICS.get(metric).digits}f}"


def format_difference(comparison: PairedComparison) -> str:
    """``+0.12 [+0.08, +0.16]``: the mean paired difference and its bootstrap interval."""
    metric = comparison.metric
    text = format_signed(comparison.difference, metric)
    if math.isfinite(comparison.ci_low) and math.isfinite(comparison.ci_high):
        text += f" [{format_signed(comparison.ci_low, metric)}, {format_signed(comparison.ci_high, metric)}]"
    return text


def format_p(p: float) -> str:
    """A p-value to two significant digits, ``< 0.001`` below that."""
    if not math.isfinite(p):
        return MISSING
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


def format_seeds(aggregate: SeedAggregate, metric: str) -> str:
    """Training seeds: ``2.01 ± 0.05 (3 seeds)``; one seed is its value alone."""
    if aggregate.n == 0:
        return MISSING
    if aggregate.n == 1:
        return format_value(aggregate.mean, metric)
    return f"{format_value(aggregate.mean, metric)} ± {format_value(aggregate.ci95, metric)} ({aggregate.n} seeds)"


def format_side_by_side(aggregate: SeedAggregate, metric: str) -> str:
    """Sampler seeds: every seed's value in seed order, ``2.01 / 2.03 / 1.99``."""
    return " / ".join(format_value(v, metric) for v in aggregate.values.values()) or MISSING


def comparison_table(rows: Sequence[tuple[str, PairedComparison]], heading: str = "Group") -> str:
    """One row per labelled paired comparison: utterances, model and baseline means, the difference with its
    95 % interval, the Wilcoxon p-value."""
    header = [heading, "n", "Model", "Baseline", "Difference [95% CI]", "p (Wilcoxon)"]
    body = [[label, str(c.n), format_value(c.mean_model, c.metric), format_value(c.mean_baseline, c.metric),
             format_difference(c), format_p(c.p_value)] for label, c in rows]
    return markdown_table(header, body)


def criteria_table(verdicts: Sequence[tuple[str, Verdict]]) -> str:
    """The plan's success criteria (section 7.1) for one model each: the requirement, what was measured, the
    verdict read from the interval."""
    header = ["Scenario", "Model", "Requirement", "Difference [95% CI]", "n", "Verdict"]
    body = [[v.criterion.scenario, model, v.criterion.requirement,
             MISSING if v.comparison is None else format_difference(v.comparison),
             MISSING if v.comparison is None else str(v.comparison.n), v.outcome] for model, v in verdicts]
    return markdown_table(header, body)


def metrics_with_values(summaries: Sequence[ScoreSummary], metrics: Sequence[str]) -> list[str]:
    """Those of ``metrics`` some summary was scored with (results stored before DNSMOS, or with ``--no-dnsmos``,
    have no DNSMOS, so its columns appear once a result has it; a metric scored but missing everywhere stays, with
    its missing counts); all of them when no summary has any."""
    present = [m for m in metrics if any(m in s.metrics for s in summaries)]
    return present or list(metrics)


def summary_rows(summaries: Sequence[ScoreSummary],
                 metrics: Sequence[str] = DEFAULT_METRICS) -> tuple[list[str], list[list[str]]]:
    """Header and cells of a table of summaries: test set, model (``noisy input``), w, the reference condition and
    sampler seed (when any summary has other than matched and seed 0), each metric some summary was scored with, n,
    and how many of the n were enhanced without a reference (``no ref``, when any was)."""
    metrics = metrics_with_values(summaries, metrics)
    models = [s for s in summaries if not s.is_noisy]
    extra = any(not s.is_matched or s.sampler_seed for s in models)
    unreferenced = any(s.unreferenced for s in models)
    header = ["test set", "model", "w", *(["reference", "seed"] if extra else []),
              *(metric_heading(m) for m in metrics), "n", *([NO_REF] if unreferenced else [])]
    rows = [[s.testset.name, "noisy input" if s.is_noisy else s.model or "", s.scale_text,
             *([("-" if s.is_noisy else s.condition), ("-" if s.is_noisy else str(s.sampler_seed))] if extra else []),
             *(format_summary(s.metrics.get(m), m) for m in metrics), str(s.utterances),
             *([s.unreferenced_text] if unreferenced else [])] for s in summaries]
    return header, rows


#: The heading of the column counting rows enhanced without a reference (the null condition).
NO_REF = "no ref"


def unreferenced_note(summaries: Sequence[ScoreSummary]) -> str:
    """A sentence saying which conditioned results include rows enhanced without a noise reference (empty when
    none do): their mean mixes conditioned and unconditional enhancement."""
    counted = [f"{s.model} {s.label}: {s.unreferenced_text}" for s in summaries if s.unreferenced]
    if not counted:
        return ""
    return (f"Rows without a noise reference (column '{NO_REF}') were enhanced with the null condition, "
            f"unconditionally, and averaged into these conditioned results: {'; '.join(counted)}.")
