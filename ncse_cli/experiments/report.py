"""The report of one experiment group: ``<out>/<scale>/reports/<group>/report.md`` (and ``report.html``).

It answers the group's question from the stored per-utterance scores (:mod:`.results`), never from means alone:

* **Experiments**: each ID of the file on each of its suites, the metric means ± 95 % t intervals over utterances
  (averaged per utterance over training and sampler seeds first), and the spread of the means across training
  seeds when there are several;
* **Against the comparison model**: each ID's paired difference to the model it is compared with (the baseline
  by default), per metric, on the same utterances: the percentile-bootstrap 95 % interval and the Wilcoxon
  p-value (:mod:`ncse_cli.report.stats`), and the same per SNR and per noise type for the first metric;
* **Reference conditions**: each condition of the study against the matched reference of the same model at the
  same ``w`` (the plan's diagnosis: does a null, mismatched or random reference hurt, an oracle one help?);
* **Success criteria** (section 7.1): pass, fail or inconclusive, read from the interval;
* **Embedding diagnosis** (section 1.1): how well each conditioned model's noise embeddings z_r of a suite's test
  references separate its noise types (silhouette), with their map;
* **Figures**: the first metric against the guidance scale and each experiment's difference to its comparison
  model per noise type, per suite; spectrograms of a few utterances; the training curves (:mod:`.figures`).

Results that are not finished are listed as missing, so a partial report is never mistaken for a full one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ncse_cli.evaluation.conditions import ReferenceCondition
from ncse_cli.evaluation.results import now
from ncse_cli.experiments.figures import (NOISE_GROUPINGS, Breakdowns, Diagnosis, Shown, embedding_diagnoses,
                                         guidance_figure, noise_type_figure, spectrogram_figures, training_figure)
from ncse_cli.experiments.plan import DONE, EVALUATE, Plan
from ncse_cli.experiments.results import KEY, MATCHED, Results
from ncse_cli.files import atomic_write_text
from ncse_cli.metrics import summarize
from ncse_cli.progress import Progress, open_task
from ncse_cli.report.breakdown import paired_breakdown
from ncse_cli.report.html import write_html
from ncse_cli.report.stats import PLAN_CRITERIA, PairedComparison, StatsError, Verdict, across_seeds, compare_paired
from ncse_cli.report.tables import (comparison_table, criteria_table, format_seeds, format_summary, markdown_table,
                                    metric_heading)

#: The breakdowns of each experiment against its comparison model, in the report's order.
GROUPINGS = ("snr", *NOISE_GROUPINGS)


@dataclass
class GroupReport:
    """What the report of a group holds and where it was written."""

    path: Path
    html: Path
    markdown: str
    verdicts: list[tuple[str, Verdict]] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)  #: the embedding diagnosis of each model and suite
    missing: int = 0  #: evaluations of the plan not finished (blocked or pending)


def write_group_report(plan: Plan, progress: Progress | None = None) -> GroupReport:
    """Build the group's report from the plan's finished evaluations and write it (markdown, figures, HTML)."""
    task = open_task(progress, f"report {plan.spec.group}")
    results = Results(plan)
    folder = plan.layout.reports
    folder.mkdir(parents=True, exist_ok=True)
    missing = [u for u in plan.of(EVALUATE) if u.state != DONE]
    breakdowns = experiment_breakdowns(results)
    parts = [header(plan, len(missing)), experiments_section(results)]
    verdicts = criteria_verdicts(results)
    parts += [comparisons_section(results, breakdowns), conditions_section(results)]
    if verdicts:
        parts.append("## Success criteria (section 7.1)\n\n" + criteria_table(verdicts))
    diagnoses = embedding_diagnoses(results, folder)
    parts.append(diagnosis_section(diagnoses))
    shown = figures_of(results, breakdowns)
    if shown:
        parts.append("## Figures\n\n" + "\n\n".join(s.markdown() for s in shown))
    if missing:
        parts.append("## Missing\n\n" + "\n".join(f"- {u.label}" + (f" ({u.note})" if u.note else "")
                                                  for u in missing))
    text = "\n\n".join(p for p in parts if p) + "\n"
    atomic_write_text(plan.layout.report, text)
    html = write_html(plan.layout.report)
    if task is not None:
        task(1, 1)
    figures = [s.path for s in [*(d.shown for d in diagnoses), *shown] if s.path is not None]
    return GroupReport(plan.layout.report, html, text, verdicts, figures, diagnoses, len(missing))


def header(plan: Plan, missing: int) -> str:
    spec = plan.spec
    lines = [f"# {spec.title}", f"Experiment file `{spec.path}`, scale `{plan.scale_name}`, {now()}."]
    if spec.question:
        lines.append(f"**Question.** {spec.question}")
    lines.append("Means ± 95% t intervals over utterances, each utterance's scores first averaged over training and "
                 "sampler seeds; differences are paired on the same utterances (95% percentile bootstrap interval, "
                 "Wilcoxon signed-rank p).")
    if missing:
        lines.append(f"**Incomplete:** {missing} evaluations are not finished (listed at the end); their rows are "
                     f"missing.")
    models = [[key, f"{m.title or ''}", m.recipe or "(inline)", ", ".join(str(r.seed) for r in plan.runs.values()
                                                                         if r.key == key)]
              for key, m in spec.models.items() if any(r.key == key for r in plan.runs.values())]
    lines.append("## Models\n\n" + markdown_table(["Model", "Description", "Recipe", "Training seeds"], models))
    return "\n\n".join(lines)


def experiments_section(results: Results) -> str:
    """One row per experiment ID and suite: the metric means (and across training seeds when several)."""
    spec, metrics = results.plan.spec, results.plan.spec.metrics
    several = len(results.plan.scale.training_seeds) > 1
    header = ["ID", "Model", "w", "Suite", "n", *(metric_heading(m) for m in metrics)]
    header += [f"{metric_heading(metrics[0])} across training seeds"] if several else []
    rows = []
    for key, entry in spec.experiments.items():
        for suite in entry.suites:
            frame = results.frame(entry.model, suite, entry.w)
            cells = [key, entry.model, _w_text(results, entry.model, entry.w), results.suite_title(suite)]
            if frame is None:
                rows.append(cells + ["-"] * (1 + len(metrics) + several))
                continue
            cells += [str(len(frame))] + [format_summary(summarize(frame[m].astype(float)), m) for m in metrics]
            if several:
                per_seed = results.seeds(entry.model, suite, entry.w)
                cells.append(format_seeds(across_seeds({s: float(f[metrics[0]].mean()) for s, f in per_seed.items()}),
                                          metrics[0]))
            rows.append(cells)
    return "## Experiments\n\n" + markdown_table(header, rows)


def _w_text(results: Results, model: str, w: float | None) -> str:
    w, _ = results.normalise(model, w, MATCHED)
    return "-" if w is None else f"{w:g}"


def compare(results: Results, model: str, suite: str, w: float | None, other: str, other_w: float | None = 1.0,
            condition: ReferenceCondition = MATCHED, metric: str = "pesq") -> PairedComparison | None:
    """The paired comparison of one result against another on a suite (``None`` until both are finished)."""
    mine, theirs = results.frame(model, suite, w, condition), results.frame(other, suite, other_w)
    if mine is None or theirs is None:
        return None
    try:
        return compare_paired(mine, theirs, metric, KEY)
    except StatsError:
        return None


def comparisons_section(results: Results, breakdowns: Breakdowns) -> str:
    """Each ID against its comparison model, per metric; then per SNR, noise type and category for the first
    metric."""
    spec = results.plan.spec
    parts = []
    for metric in spec.metrics:
        rows = []
        for key, entry in spec.experiments.items():
            against = spec.comparator(entry)
            if against is None or against == entry.model:
                continue
            for suite in entry.suites:
                comparison = compare(results, entry.model, suite, entry.w, against, metric=metric)
                if comparison is not None:
                    rows.append((f"{key} - {against}, {results.suite_title(suite)}", comparison))
        if rows:
            parts.append(f"### {metric_heading(metric)}\n\n" + comparison_table(rows, "Comparison"))
    if not parts:
        return ""
    text = "## Against the comparison model\n\n" + "\n\n".join(parts)
    if breakdowns:
        tables = [breakdown_table(results, key, suite, by, rows) for (key, suite, by), rows in breakdowns.items()]
        text += (f"\n\n### {metric_heading(spec.metrics[0])} per SNR, noise type and category\n\n"
                 + "\n\n".join(tables))
    return text


def experiment_breakdowns(results: Results) -> dict[tuple[str, str, str], list[tuple[str, PairedComparison]]]:
    """Each ID's paired difference to its comparison model within each group of each of :data:`GROUPINGS` on each
    of its suites, for the first metric: where a suite has more than one group (and a category is coarser than
    the noise type)."""
    spec, found = results.plan.spec, {}
    for key, entry in spec.experiments.items():
        against = spec.comparator(entry)
        for suite in entry.suites:
            mine = results.frame(entry.model, suite, entry.w)
            theirs = results.frame(against, suite) if against and against != entry.model else None
            if mine is None or theirs is None:
                continue
            for by in GROUPINGS:
                groups = mine[by].nunique(dropna=False) if by in mine.columns else 0
                if groups < 2 or (by == "category" and groups >= mine["noise_type"].nunique(dropna=False)):
                    continue
                try:
                    found[key, suite, by] = paired_breakdown(mine, theirs, by, spec.metrics[0], KEY)
                except StatsError:
                    continue
    return found


def breakdown_table(results: Results, key: str, suite: str, by: str,
                    rows: list[tuple[str, PairedComparison]]) -> str:
    """One ID's paired differences within the groups of ``by`` (``snr``, ``noise_type``, ``category``) of a
    suite."""
    against = results.plan.spec.comparator(results.plan.spec.experiments[key])
    title = f"{key} - {against}, {results.suite_title(suite)}, by {by.replace('_', ' ')}"
    return f"{title}:\n\n" + comparison_table(rows, by.replace("_", " "))


def conditions_section(results: Results) -> str:
    """Each reference condition against the matched reference of the same model and ``w``."""
    study, spec = results.plan.spec.conditions, results.plan.spec
    if not study.conditions:
        return ""
    models = study.models or tuple(dict.fromkeys(e.model for e in spec.experiments.values()))
    suites = study.suites or tuple(results.suites)
    parts = []
    for metric in spec.metrics:
        rows = [(f"{model}, {results.suite_title(suite)}, {condition.label}", comparison)
                for model in models for suite in suites for condition in study.parsed()
                if (comparison := compare(results, model, suite, study.w, model, study.w, condition, metric))]
        if rows:
            parts.append(f"### {metric_heading(metric)}\n\n" + comparison_table(rows, "Condition - matched"))
    if not parts:
        return ""
    return (f"## Reference conditions (w = {study.w:g})\n\nEach condition minus the matched reference, same model, "
            f"same utterances.\n\n" + "\n\n".join(parts))


def criteria_verdicts(results: Results) -> list[tuple[str, Verdict]]:
    """Each criterion of the file judged for every experiment with a suite of its kind."""
    spec, verdicts = results.plan.spec, []
    for ref in spec.criteria:
        criterion = next(c for c in PLAN_CRITERIA if c.id == ref.criterion)
        for key, entry in spec.experiments.items():
            if entry.model == ref.against:
                continue
            for suite in entry.suites:
                if results.plan.scale.suites[suite].kind == criterion.kind:
                    comparison = compare(results, entry.model, suite, entry.w, ref.against, metric=criterion.metric)
                    verdicts.append((f"{key} ({results.suite_title(suite)}) vs {ref.against}",
                                     Verdict(criterion, comparison)))
    return verdicts


def diagnosis_section(diagnoses: list[Diagnosis]) -> str:
    """The plan's embedding diagnosis: one sentence per model and suite, then the maps."""
    if not diagnoses:
        return ""
    maps = [d.shown.markdown() for d in diagnoses if d.shown.path is not None]
    return ("## Embedding diagnosis (section 1.1)\n\nDo the noise embeddings z_r of a suite's test references "
            "separate its noise types? The silhouette of the noise types among the z_r (Rousseeuw 1987: +1 separate "
            "clusters, 0 overlapping, below 0 mixed up; read as in Kaufman & Rousseeuw 1990), each model at its "
            "first training seed; maps by PCA, by t-SNE from 50 references.\n\n"
            + "\n".join(f"- {d.sentence()}" for d in diagnoses) + "".join(f"\n\n{m}" for m in maps))


def figures_of(results: Results, breakdowns: Breakdowns) -> list[Shown]:
    """The report's figures after the diagnosis: per suite the guidance curves and the noise-type bars, the first
    suite's spectrograms, and the training curves."""
    folder, shown = results.plan.layout.reports, []
    for suite in results.suites:
        shown += [f for f in (guidance_figure(results, suite, folder),
                              noise_type_figure(results, suite, breakdowns, folder)) if f]
    if results.suites:
        shown += spectrogram_figures(results, results.suites[0], folder)
    curves = training_figure(results.plan, folder)
    return shown + ([curves] if curves else [])
