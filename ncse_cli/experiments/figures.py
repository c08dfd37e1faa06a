"""The figures of a group report, each with what the report says about it, or why it could not be drawn.

* the first metric against the guidance scale per suite (:func:`guidance_figure`);
* per noise type, each experiment's paired difference to its comparison model with its bootstrap interval
  (:func:`noise_type_figure`, from the breakdowns the report's tables show);
* noisy / enhanced / clean spectrograms of the utterances of a suite where the first experiment gains most and
  least on its comparison model (:func:`spectrogram_figures`), read from the files the evaluation kept;
* the plan's embedding diagnosis (section 1.1): the noise embeddings z_r of each conditioned model for a suite's
  test references, mapped in 2-D and coloured by noise type, with their silhouette (:func:`embedding_diagnoses`);
* the training curves (:func:`training_figure`).

A figure that cannot be drawn (a model without a noise encoder, a model not trained yet, an enhanced file that is
gone) is no figure and a sentence saying why: nothing here stops the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ncse_cli.audio import load_audio
from ncse_cli.data.manifest import Manifest, Utterance
from ncse_cli.errors import NcseError
from ncse_cli.experiments.plan import DONE, TRAIN, Plan
from ncse_cli.experiments.results import KEY, MATCHED, Results
from ncse_cli.metrics import summarize
from ncse_cli.model import ScoreModel
from ncse_cli.model_dir import load_model
from ncse_cli.report.embeddings import pooled_embeddings, project_2d, separation, silhouette
from ncse_cli.report.figures import (Estimate, plot_embedding_map, plot_group_bars, plot_guidance, plot_spectrograms,
                                     plot_training_curves)
from ncse_cli.report.stats import PairedComparison
from ncse_cli.report.tables import metric_label
from ncse_cli.training.metrics_log import LOG_FILE, read_train_log
from ncse_cli.workspace import Workspace

#: Paired breakdowns of the report: ``(experiment ID, suite, grouping) -> [(group, comparison)]``.
Breakdowns = Mapping[tuple[str, str, str], Sequence[tuple[str, PairedComparison]]]
#: The noise groupings a bar figure may use, finest first; it takes the finest with at most MAX_BAR_GROUPS groups.
NOISE_GROUPINGS = ("noise_type", "category")
FILE_NAMES = {"noise_type": "noise_types", "category": "noise_categories"}
MAX_BAR_GROUPS = 12
#: Utterances shown as spectrograms per suite.
SPECTROGRAMS = 2
#: At most this many references per embedding map (evenly spread over the suite), and the sizes drawn by t-SNE
#: rather than PCA: below the lower bound PCA shows as much, and the silhouette is always of z_r itself.
MAX_REFERENCES = 1000
TSNE_REFERENCES = 50


@dataclass(frozen=True)
class Shown:
    """A figure of the report (``path``, beside it) under its caption, or the reason it is missing."""

    caption: str
    path: Path | None = None
    reason: str = ""

    def markdown(self) -> str:
        if self.path is None:
            return f"{self.caption}: no figure ({self.reason})."
        return f"{self.caption}:\n\n![{self.path.stem}]({self.path.name})"


def _failure(error: Exception) -> str:
    return str(error).rstrip(".") or type(error).__name__


# --- metric vs w, training curves ----------------------------------------------------------------------------

def guidance_figure(results: Results, suite: str, folder: Path) -> Shown | None:
    """The first metric against ``w`` on a suite, one line per model with more than one scale there (and the
    models without guidance as levels)."""
    spec, metric = results.plan.spec, results.plan.spec.metrics[0]
    scales: dict[str, set[float]] = {}
    for entry in spec.experiments.values():
        if suite in entry.suites:
            scales.setdefault(entry.model, set()).add(entry.w)
            if spec.comparator(entry):
                scales.setdefault(spec.comparator(entry), set()).add(1.0)
    if not any(len(ws) > 1 for ws in scales.values()):
        return None
    points = []
    for model, ws in scales.items():
        for w in sorted(ws):
            frame = results.frame(model, suite, w)
            if frame is not None:
                shown, _ = results.normalise(model, w, MATCHED)
                points.append(Estimate.from_summary(model, math.nan if shown is None else shown,
                                                    summarize(frame[metric].astype(float))))
    if not points:
        return None
    title = f"{metric_label(metric)} against the guidance scale w, {results.suite_title(suite)}"
    return Shown(title, plot_guidance(points, metric, folder / f"guidance_{suite}.png", title))


def training_figure(plan: Plan, folder: Path) -> Shown | None:
    """Training loss and validation SI-SDR of every run that logged any."""
    workspace = Workspace(plan.layout.runs)
    logs = {name: rows for name in plan.runs if (rows := read_train_log(workspace.model_dir(name) / LOG_FILE))}
    if not logs:
        return None
    return Shown("Training loss and validation SI-SDR",
                 plot_training_curves(logs, folder / "training_curves.png", "training"))


# --- per noise type ------------------------------------------------------------------------------------------

def noise_type_figure(results: Results, suite: str, breakdowns: Breakdowns, folder: Path) -> Shown | None:
    """Bars of each experiment's paired difference to its comparison model per noise type on a suite (per noise
    category when there are more than :data:`MAX_BAR_GROUPS` types), with 95% bootstrap intervals."""
    spec, metric = results.plan.spec, results.plan.spec.metrics[0]
    found = {by: {key: rows for (key, s, b), rows in breakdowns.items() if s == suite and b == by}
             for by in NOISE_GROUPINGS}
    found = {by: rows for by, rows in found.items() if rows}
    if not found:
        return None
    sizes = {by: len({group for rows in found[by].values() for group, _ in rows}) for by in found}
    by = next((b for b in found if sizes[b] <= MAX_BAR_GROUPS), min(sizes, key=sizes.__getitem__))
    points = [Estimate.from_comparison(f"{key} - {spec.comparator(spec.experiments[key])}", group, comparison)
              for key, rows in found[by].items() for group, comparison in rows]
    words = by.replace("_", " ")
    label = metric_label(metric)
    title = f"{label} difference to the comparison model per {words}, {results.suite_title(suite)}"
    path = plot_group_bars(points, metric, folder / f"{FILE_NAMES[by]}_{suite}.png", title,
                           ylabel=f"{label} difference (mean, 95% CI)")
    return Shown(f"{label} of each experiment minus its comparison model per {words}, "
                 f"{results.suite_title(suite)} (paired on the same utterances, 95% bootstrap intervals)", path)


# --- spectrograms --------------------------------------------------------------------------------------------

def spectrogram_figures(results: Results, suite: str, folder: Path, count: int = SPECTROGRAMS) -> list[Shown]:
    """Noisy, enhanced (the suite's first experiment and its comparison model) and clean spectrograms of
    ``count`` utterances of a suite: those where the experiment gains most and least on its comparison model in
    the first metric (the first rows without one)."""
    spec, metric = results.plan.spec, results.plan.spec.metrics[0]
    key = next((k for k, e in spec.experiments.items() if suite in e.suites), None)
    if key is None:
        return []
    entry = spec.experiments[key]
    against = spec.comparator(entry) if spec.comparator(entry) != entry.model else None
    mine = results.frame(entry.model, suite, entry.w)
    if mine is None:
        return [Shown(f"Spectrograms, {results.suite_title(suite)}",
                      reason=f"{key} is not evaluated on every manifest of the suite yet")]
    theirs = results.frame(against, suite) if against else None
    w, _ = results.normalise(entry.model, entry.w, MATCHED)
    models = [(f"{key}: {entry.model}" + ("" if w is None else f", w {w:g}"), entry.model, entry.w)]
    models += [(against, against, 1.0)] if theirs is not None else []
    several = len(results.plan.scale.suites[suite].manifests) > 1
    chosen = _chosen(mine, theirs, metric, count)
    shown = []
    for n, (testset, utterance, difference) in enumerate(chosen):
        caption = f"Spectrograms of `{utterance}` ({f'{testset}, ' if several else ''}{results.suite_title(suite)})"
        if difference is not None:
            rank = "most" if n == 0 else "least" if n == len(chosen) - 1 else ""
            caption += f", where {key} gains {rank} on {against}" if rank else f", {key} against {against}"
            caption += f" ({metric_label(metric)} {difference:+.2f})"
        try:
            panels, rate = _panels(results, suite, models, testset, utterance)
        except (NcseError, OSError) as error:
            shown.append(Shown(caption, reason=_failure(error)))
            continue
        title = f"{utterance} ({testset})"
        title += f": {key} - {against} {metric_label(metric)} {difference:+.2f}" if difference is not None else ""
        shown.append(Shown(caption, plot_spectrograms(panels, rate, folder / f"spectrogram_{suite}_{n}.png", title)))
    return shown


def _chosen(mine: pd.DataFrame, theirs: pd.DataFrame | None, metric: str,
            count: int) -> list[tuple[str, str, float | None]]:
    """(test set, utterance id, difference to the comparison model or ``None``) of the utterances to show:
    spread from the largest difference to the smallest."""
    if theirs is None:
        return [(str(r.testset), str(r.id), None) for r in mine.head(count).itertuples()]
    pairs = mine[[*KEY, metric]].merge(theirs[[*KEY, metric]], on=list(KEY), suffixes=("", "_other"))
    pairs = pairs.assign(difference=pairs[metric] - pairs[f"{metric}_other"]).dropna(subset=["difference"])
    pairs = pairs.sort_values("difference", ascending=False, kind="stable").reset_index(drop=True)
    if pairs.empty:
        return []
    picks = sorted({round(i * (len(pairs) - 1) / max(count - 1, 1)) for i in range(count)})
    return [(str(pairs.testset[i]), str(pairs.id[i]), float(pairs.difference[i])) for i in picks]


def _panels(results: Results, suite: str, models: Sequence[tuple[str, str, float]], testset: str,
            utterance: str) -> tuple[list[tuple[str, np.ndarray]], int]:
    """The panels of one utterance (noisy, each model's enhanced file, clean when there is one) at the enhanced
    files' sample rate."""
    manifest, row = _row(results, suite, testset, utterance)
    enhanced = []
    for label, model, w in models:
        path = results.enhanced_file(model, suite, w, testset, utterance)
        if path is None:
            raise FileNotFoundError(f"{model} has no stored evaluation of {testset}")
        enhanced.append((label, load_audio(path)))
    rate = enhanced[0][1].sample_rate
    panels = [("noisy", load_audio(manifest.resolve(row.noisy), rate, resample=True).samples)]
    panels += [(label, audio.samples) for label, audio in enhanced]
    if row.clean is not None:
        panels.append(("clean", load_audio(manifest.resolve(row.clean), rate, resample=True).samples))
    return panels, rate


def _row(results: Results, suite: str, testset: str, utterance: str) -> tuple[Manifest, Utterance]:
    for relative in results.plan.scale.suites[suite].manifests:
        path = results.plan.layout.data / relative
        if path.stem == testset:
            manifest = results.manifest(path)[1]
            return manifest, next(row for row in manifest if row.id == utterance)
    raise FileNotFoundError(f"no manifest {testset} in suite {suite}")


# --- embedding diagnosis -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Diagnosis:
    """The embedding diagnosis of one model on one suite: the silhouette of the noise types among the z_r of the
    suite's references, and their map (or why there is none)."""

    model: str
    suite: str  #: the suite's title ("" when the model has no diagnosis on any suite)
    shown: Shown
    silhouette: float = math.nan
    references: int = 0
    noise_types: int = 0

    def sentence(self) -> str:
        where = f"**{self.model}**" + (f", {self.suite}" if self.suite else "")
        if not self.references:
            return f"{where}: no map: {self.shown.reason}."
        score = f"silhouette **{self.silhouette:.2f}**" if math.isfinite(self.silhouette) else "silhouette"
        return (f"{where}: {score} over {self.references} references of {self.noise_types} noise types: "
                f"{separation(self.silhouette)}.")


def embedding_diagnoses(results: Results, folder: Path) -> list[Diagnosis]:
    """The diagnosis of every model of the file on every suite it is evaluated on (one line for a model without
    a noise encoder or not trained yet); each model's lowest training seed, on the CPU."""
    found = []
    for model, suites in _model_suites(results).items():
        run = results.first_run(model)
        if run is None:
            continue
        reason = "" if run.conditional else "the model has no noise encoder (encoder none), so there is no z_r"
        training = results.plan.unit(f"{TRAIN}:{run.name}")
        if not reason and training.state != DONE:
            reason = f"{run.name} is not trained yet" + (f" ({training.note})" if training.note else "")
        loaded = None
        if not reason:
            try:
                loaded = load_model(Workspace(results.plan.layout.runs).model_dir(run.name), torch.device("cpu"))
            except (NcseError, OSError) as error:
                reason = _failure(error)
        if loaded is None:
            found.append(Diagnosis(model, "", Shown(f"Noise embeddings of {model}", reason=reason)))
            continue
        found += [_diagnose(results, model, loaded, suite, folder) for suite in suites]
    return found


def _model_suites(results: Results) -> dict[str, list[str]]:
    """Each model of the experiments (and each comparison model) with the suites it is evaluated on."""
    spec, suites = results.plan.spec, {}
    for entry in spec.experiments.values():
        for model in (entry.model, spec.comparator(entry)):
            if model is not None:
                suites.setdefault(model, [])
                suites[model] += [s for s in entry.suites if s not in suites[model]]
    return suites


def _diagnose(results: Results, name: str, model: ScoreModel, suite: str, folder: Path) -> Diagnosis:
    title = results.suite_title(suite)
    caption = f"Noise embeddings z_r of {name}, {title}, coloured by noise type"
    try:
        manifests = [results.manifest(results.plan.layout.data / p)[1]
                     for p in results.plan.scale.suites[suite].manifests]
        embeddings = pooled_embeddings(model, manifests, MAX_REFERENCES)
        score = silhouette(embeddings.vectors, embeddings.noise_types)
        method = "tsne" if len(embeddings) >= TSNE_REFERENCES else "pca"
        points = project_2d(embeddings.vectors, method)
    except (NcseError, OSError) as error:
        return Diagnosis(name, title, Shown(caption, reason=_failure(error)))
    shown = f"{score:.2f}" if math.isfinite(score) else "undefined"
    path = plot_embedding_map(points, embeddings.noise_types, folder / f"embeddings_{name}_{suite}.png",
                              f"{name}, {title}: silhouette {shown} ({'t-SNE' if method == 'tsne' else 'PCA'})")
    return Diagnosis(name, title, Shown(caption, path), score, len(embeddings), len(set(embeddings.noise_types)))
