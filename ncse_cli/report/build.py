"""``ncse report``: the research plan's tables (noise_conditioning_plan.md, sections 5.1-5.4) from the workspace.

Per test set: rows = noisy input, then model x guidance scale; columns PESQ ↑, ESTOI ↑, SI-SDR ↑ and, where results
carry them, DNSMOS SIG ↑, BAK ↑, OVRL ↑ (mean ± 95% CI).
Then the comparison summary across test-set groups (section 5.4): one column per group present (VB-DEMAND, OOD,
Non-stat, Demo, Other) and metric, each the mean over the group's test sets of their per-set means. Every number
is read from the ``summary.json`` files evaluation stored; nothing is recomputed or estimated. Given a folder for
figures (``ncse report --out``: the report's own), each test set with several noise types also gets bars of the
first summary metric per noise type, linked from the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ncse_cli import __version__
from ncse_cli.catalog import ModelInfo, list_models
from ncse_cli.errors import NcseError
from ncse_cli.evaluation.results import NOISY_SUMMARY_FILE, ScoreSummary, now, read_summary
from ncse_cli.evaluation.testsets import KINDS, TestSet, read_testset
from ncse_cli.metrics import DEFAULT_METRICS
from ncse_cli.report.breakdown import breakdown, read_summary_scores
from ncse_cli.report.figures import Estimate, plot_group_bars
from ncse_cli.report.stats import PairedComparison, StatsError, compare_paired
from ncse_cli.report.tables import (NO_REF, format_difference, format_summary, format_value, markdown_table,
                                    metric_heading, metric_label, metrics_with_values, unreferenced_note)
from ncse_cli.workspace import Workspace, file_in_the_way

if TYPE_CHECKING:
    import pandas as pd

NOISY_ROW = "Noisy input"


class ReportError(NcseError):
    """A report that cannot be written where asked."""


@dataclass
class ReportData:
    """Everything a report shows, as read from the workspace."""

    workspace: Workspace
    models: list[ModelInfo]
    testsets: list[TestSet]  #: ordered by group, then name
    noisy: dict[str, ScoreSummary] = field(default_factory=dict)  #: by test set id

    def rows(self, testset_id: str) -> list[ScoreSummary]:
        """The model rows of one test set: by model name, then guidance scale."""
        return [s for m in self.models for s in m.evaluations if s.testset.id == testset_id]

    def methods(self) -> list[tuple[ModelInfo, str]]:
        """Every (model, guidance label) that was evaluated anywhere."""
        return [(m, label) for m in self.models for label in dict.fromkeys(s.label for s in m.evaluations)]


def collect(workspace: Workspace) -> ReportData:
    """Read every model's evaluations and every test set's noisy-input summary."""
    models = list_models(workspace)
    ids = dict.fromkeys([s.testset.id for m in models for s in m.evaluations] + workspace.testsets())
    testsets = [t for t in (read_testset(workspace, i) or _evaluated(models, i) for i in ids) if t is not None]
    order = list(KINDS)
    testsets.sort(key=lambda t: (order.index(t.kind) if t.kind in order else len(order), t.name, t.id))
    noisy = {t.id: s for t in testsets
             if (s := read_summary(workspace.testset_dir(t.id) / NOISY_SUMMARY_FILE)) is not None}
    return ReportData(workspace, models, testsets, noisy)


def _evaluated(models: list[ModelInfo], testset_id: str) -> TestSet | None:
    return next((s.testset for m in models for s in m.evaluations if s.testset.id == testset_id), None)


def describe(model: ModelInfo) -> str:
    """A short description: encoder, injection, CFG dropout and training steps."""
    parts = ["no conditioning" if not model.conditional else f"{model.encoder} encoder, {model.injection}"]
    if model.conditional and model.p_uncond is not None:
        parts.append(f"p_uncond {model.p_uncond:g}")
    if model.steps is not None:
        parts.append(f"{model.steps} steps")
    return ", ".join(parts)


def models_section(data: ReportData) -> str:
    rows = [[m.name, describe(m), m.backbone, f"{m.parameters:,}"] for m in data.models]
    return "## Models\n\n" + markdown_table(["Model", "Setup", "Backbone", "Parameters"], rows)


def varied(rows: Sequence[ScoreSummary]) -> bool:
    """Whether some rows were evaluated with another reference condition or sampler seed than the default, so
    that tables need columns for them."""
    return any(not s.is_matched or s.sampler_seed for s in rows)


def point_cells(summary: ScoreSummary, extra: bool) -> list[str]:
    """The w cell, and with ``extra`` the reference-condition and sampler-seed cells, of a model row."""
    return [summary.scale_text, *([summary.condition, str(summary.sampler_seed)] if extra else [])]


def row_name(summary: ScoreSummary) -> str:
    """``cond w 3``, ``cond w 1 mismatched seed 1``: a model row in words."""
    name = f"{summary.model} w {summary.scale_text}"
    name += "" if summary.is_matched else f" {summary.condition}"
    return name + (f" seed {summary.sampler_seed}" if summary.sampler_seed else "")


def testset_section(data: ReportData, testset: TestSet, metrics: Sequence[str], ci: bool) -> str:
    """Plan sections 5.1-5.3: one table per test set."""
    rows_of = data.rows(testset.id)
    extra, unreferenced = varied(rows_of), any(s.unreferenced for s in rows_of)
    header = ["Model", "w", *(["Reference", "Seed"] if extra else []), *(metric_heading(m) for m in metrics),
              *([NO_REF] if unreferenced else [])]
    rows = []
    if testset.id in data.noisy:
        rows.append([NOISY_ROW, "-", *(["-", "-"] if extra else []),
                     *(format_summary(data.noisy[testset.id].metrics.get(m), m, ci) for m in metrics),
                     *([""] if unreferenced else [])])
    for s in rows_of:
        rows.append([s.model, *point_cells(s, extra), *(format_summary(s.metrics.get(m), m, ci) for m in metrics),
                     *([s.unreferenced_text] if unreferenced else [])])
    title = f"### {testset.name} ({KINDS.get(testset.kind, testset.kind)}, {testset.rows} utterances, `{testset.id}`)"
    note = unreferenced_note(rows_of)
    return f"{title}\n\n{markdown_table(header, rows)}{sampler_note(rows_of)}" + (f"\n\n{note}" if note else "")


def sampler_note(rows: Sequence[ScoreSummary]) -> str:
    """A line naming each row's sampler when one table's rows were not all made with the same sampler settings
    (``ncse evaluate --steps`` differs between runs), so such rows are not compared unawares."""
    samplers = {row_name(s): s.settings.get("sampler", {}) for s in rows}
    if len({repr(v) for v in samplers.values()}) <= 1:
        return ""
    described = (f"{row}: {v.get('name', '?')} {v.get('steps', '?')} steps" for row, v in samplers.items())
    return "\n\nSampler settings differ between rows: " + "; ".join(described) + "."


def group_mean(summaries: Sequence[ScoreSummary | None], metric: str) -> tuple[float, bool]:
    """Mean over test sets of their means, and whether every test set of the group had a value."""
    means = [s.metrics[metric].mean for s in summaries if s is not None and metric in s.metrics]
    means = [m for m in means if math.isfinite(m)]
    return (sum(means) / len(means) if means else math.nan), len(means) == len(summaries)


def comparison_section(data: ReportData, metrics: Sequence[str]) -> str:
    """Plan section 5.4: methods x (group, metric)."""
    groups = [k for k in KINDS if any(t.kind == k for t in data.testsets)]
    members = {k: [t for t in data.testsets if t.kind == k] for k in groups}
    header = ["Method", *(f"{KINDS[g]} {metric_label(m)}" for g in groups for m in metrics), "Notes"]
    methods = [(NOISY_ROW, lambda t: data.noisy.get(t.id), "unprocessed input")]
    for model, label in data.methods():
        name = model.name if label == "w-" else f"{model.name} ({label.replace('w', 'w=', 1)})"
        pick = (lambda t, m=model, lb=label: next((s for s in m.evaluations if s.testset.id == t.id and s.label == lb),
                                                  None))
        methods.append((name, pick, describe(model)))
    rows, partial = [], False
    for name, pick, notes in methods:
        cells = []
        for g in groups:
            for metric in metrics:
                value, complete = group_mean([pick(t) for t in members[g]], metric)
                partial |= not complete and math.isfinite(value)
                cells.append(format_value(value, metric) + ("*" if not complete and math.isfinite(value) else ""))
        rows.append([name, *cells, notes])
    legend = "; ".join(f"{KINDS[g]}: {', '.join(t.name for t in members[g])}" for g in groups)
    foot = f"\n\nGroups (mean of per-test-set means): {legend}."
    if partial:
        foot += " \\* not evaluated on every test set of the group."
    return "## Comparison summary\n\n" + markdown_table(header, rows) + foot


def input_verdict(comparisons: dict[str, PairedComparison], other: str = "the input") -> str:
    """Plainly, whether a model beats ``other`` (its noisy input, or a baseline): better where the paired
    interval lies above zero, worse where it lies below, not clearly different where it straddles zero."""
    better = [m for m, c in comparisons.items() if c.ci_low > 0]
    worse = [m for m, c in comparisons.items() if c.ci_high < 0]
    unclear = [m for m in comparisons if m not in better and m not in worse]
    name = lambda ms: ", ".join(metric_label(m) for m in ms)  # noqa: E731
    if comparisons and len(better) == len(comparisons):
        return f"**beats {other}** on every metric"
    if comparisons and len(worse) == len(comparisons):
        return f"**worse than {other}** on every metric"
    parts = [f"better on {name(better)}" if better else "", f"worse on {name(worse)}" if worse else "",
             f"no clear difference on {name(unclear)}" if unclear else ""]
    return "; ".join(p for p in parts if p)


def input_section(data: ReportData, metrics: Sequence[str]) -> str:
    """Does each model beat its input? Per test set and model row: the paired difference to the noisy input on
    the same utterances (mean and 95% bootstrap interval) and a plain verdict."""
    rows, extra = [], varied([s for m in data.models for s in m.evaluations])
    for testset in data.testsets:
        noisy = data.noisy.get(testset.id)
        try:
            baseline = read_summary_scores(noisy) if noisy is not None else None
        except StatsError:
            baseline = None
        for s in data.rows(testset.id) if baseline is not None else ():
            try:
                found = input_comparisons(read_summary_scores(s), baseline, metrics)
            except StatsError:
                continue
            rows.append([testset.name, s.model, *point_cells(s, extra),
                         *(format_difference(found[m]) if m in found else "-" for m in metrics), input_verdict(found)])
    if not rows:
        return ""
    header = ["Test set", "Model", "w", *(["Reference", "Seed"] if extra else []),
              *(f"{metric_label(m)} vs input" for m in metrics), "Verdict"]
    return ("## Against the noisy input\n\nPaired differences model - noisy input on the same utterances, mean "
            "[95% bootstrap interval]; a model beats its input on a metric when the whole interval lies above "
            "zero.\n\n" + markdown_table(header, rows))


def baseline_section(data: ReportData, metrics: Sequence[str]) -> str:
    """Does conditioning help? Each conditioned model row against each unconditioned model of the same backbone
    evaluated on the same test set (with the same sampler seed): the paired difference on the same utterances and
    a plain verdict, as for the noisy input."""
    rows, extra = [], varied([s for m in data.models for s in m.evaluations])
    for testset in data.testsets:
        for model in (m for m in data.models if m.conditional):
            for base in (b for b in data.models if not b.conditional and b.backbone == model.backbone):
                for s in (e for e in model.evaluations if e.testset.id == testset.id):
                    other = next((e for e in base.evaluations if e.testset.id == testset.id and e.is_matched
                                  and e.sampler_seed == s.sampler_seed), None)
                    if other is None:
                        continue
                    try:
                        found = input_comparisons(read_summary_scores(s), read_summary_scores(other), metrics)
                    except StatsError:  # scores missing, or no utterances in common
                        continue
                    rows.append([testset.name, s.model, *point_cells(s, extra), base.name,
                                 *(format_difference(found[m]) if m in found else "-" for m in metrics),
                                 input_verdict(found, "the baseline")])
    if not rows:
        return ""
    header = ["Test set", "Model", "w", *(["Reference", "Seed"] if extra else []), "Baseline",
              *(f"{metric_label(m)} vs baseline" for m in metrics), "Verdict"]
    return ("## Against the unconditioned baseline\n\nPaired differences conditioned model - unconditioned model "
            "(same backbone) on the same utterances, mean [95% bootstrap interval].\n\n"
            + markdown_table(header, rows))


def input_comparisons(scores: "pd.DataFrame", noisy: "pd.DataFrame",
                      metrics: Sequence[str]) -> dict[str, PairedComparison]:
    """Each metric's paired comparison of a model's scores with its noisy input's (metrics both tables have)."""
    return {m: compare_paired(scores, noisy, m) for m in metrics if m in scores.columns and m in noisy.columns}


@dataclass
class Report:
    """A rendered report and the data behind it."""

    markdown: str
    data: ReportData
    figures: list[Path] = field(default_factory=list)  #: PNG files the report links, beside it


def noise_type_figures(data: ReportData, metric: str, folder: Path) -> list[Path]:
    """Per test set with more than one noise type: the mean of ``metric`` per noise type with its 95% t interval,
    for the noisy input and each model row at the matched reference and sampler seed 0, as bars in ``folder``."""
    figures = []
    for testset in data.testsets:
        rows = [(NOISY_ROW, data.noisy.get(testset.id))]
        rows += [(row_name(s), s) for s in data.rows(testset.id) if s.is_matched and not s.sampler_seed]
        points = []
        for name, summary in rows:
            try:
                scores = read_summary_scores(summary) if summary is not None else None
            except StatsError:  # scores missing beside the summary
                continue
            if scores is not None and {metric, "noise_type"} <= set(scores.columns) and scores.noise_type.nunique() > 1:
                points += [Estimate.from_summary(name, group.group, group.metrics[metric])
                           for group in breakdown(scores, "noise_type", [metric])]
        if points:
            figures.append(plot_group_bars(points, metric, folder / f"noise_types_{testset.id}.png",
                                           f"{metric_label(metric)} per noise type, {testset.name}"))
    return figures


def build_report(workspace: Workspace, metrics: Sequence[str] = DEFAULT_METRICS,
                 summary_metrics: Sequence[str] = ("pesq",), ci: bool = True, figures: Path | None = None) -> Report:
    """The markdown report of everything ``workspace`` holds; with ``figures``, a folder, the per-noise-type bars
    are written there and linked (by name: the report is meant to be saved in that folder)."""
    data = collect(workspace)
    metrics = metrics_with_values([*data.noisy.values(), *(s for m in data.models for s in m.evaluations)], metrics)
    parts = [f"# ncse report\n\nWorkspace `{workspace.root}`, {now()}, ncse {__version__}. "
             f"Means ± 95% confidence intervals (t distribution) over utterances."]
    if not data.models and not data.testsets:
        parts.append("Nothing evaluated yet: run `ncse evaluate --model NAME --testset MANIFEST` first.")
        return Report("\n\n".join(parts) + "\n", data)
    if data.models:
        parts.append(models_section(data))
    if data.testsets:
        parts.append("## Results per test set\n\n" + "\n\n".join(testset_section(data, t, metrics, ci)
                                                                   for t in data.testsets))
        parts.append(comparison_section(data, summary_metrics))
        sections = [part for part in (input_section(data, metrics), baseline_section(data, metrics)) if part]
        at = 2 if data.models else 1
        parts[at:at] = sections
    drawn = noise_type_figures(data, summary_metrics[0], Path(figures)) if figures is not None else []
    if drawn:
        parts.append(f"## {metric_label(summary_metrics[0])} per noise type\n\nMean ± 95% t interval per noise type "
                     f"of each test set with several, for the noisy input and each model (matched reference, "
                     f"sampler seed 0).\n\n" + "\n\n".join(f"![{f.stem}]({f.name})" for f in drawn))
    return Report("\n\n".join(parts) + "\n", data, drawn)


def check_report_path(out: Path) -> None:
    """Refuse an ``--out`` that is a folder or lies under a file, before anything is built or written."""
    if out.is_dir():
        raise ReportError(f"{out}: is a folder; --out takes the report's file name (e.g. {out / 'report.md'})")
    blocker = file_in_the_way(out.parent)
    if blocker is not None:
        raise ReportError(f"{blocker}: not a folder, so it cannot hold the report (--out {out})")
