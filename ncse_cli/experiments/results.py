"""The finished evaluations of an experiment, as per-utterance frames to compare.

A *result* is one model of the file at one guidance scale and reference condition on one suite. Its frame holds
one row per utterance of the suite (every manifest of the suite stacked, keyed by ``testset`` and ``id``) with
the manifest's metadata (SNR, noise type, category: :func:`ncse_cli.report.breakdown.with_metadata`), each metric
averaged over the chosen runs: every training seed and sampler seed by default, or one of them. Averaging per
utterance before comparing keeps a comparison paired (:func:`ncse_cli.report.stats.mean_over_runs`); the
spread between seeds is reported separately.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import pandas as pd

from ncse_cli.data.manifest import Manifest
from ncse_cli.evaluation.conditions import ReferenceCondition
from ncse_cli.evaluation.results import NOISY_SUMMARY_FILE, SUMMARY_FILE, ScoreSummary, read_summary
from ncse_cli.evaluation.testsets import load_testset
from ncse_cli.experiments.configs import ModelRun
from ncse_cli.experiments.plan import DONE, EVALUATE, EvalTask, Plan
from ncse_cli.inference.jobs import output_path
from ncse_cli.report.breakdown import read_summary_scores, stack_testsets, with_metadata
from ncse_cli.report.stats import mean_over_runs
from ncse_cli.workspace import Workspace, eval_dir

KEY = ("testset", "id")
MATCHED = ReferenceCondition()


@dataclass(frozen=True)
class Stored:
    """One finished evaluation: its task and its summary."""

    task: EvalTask
    summary: ScoreSummary


class Results:
    """The finished evaluations of a plan, looked up by model, suite, scale and condition."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.stored: list[Stored] = []
        self._manifests: dict[Path, tuple[str, Manifest]] = {}
        for unit in plan.of(EVALUATE, DONE):
            testset_id, _ = self.manifest(unit.task.manifest)
            summary = read_summary(eval_dir(unit.task.directory, testset_id, unit.task.point.label) / SUMMARY_FILE)
            if summary is not None:
                self.stored.append(Stored(unit.task, summary))
        self._frames: dict[tuple, pd.DataFrame] = {}

    def manifest(self, path: Path) -> tuple[str, Manifest]:
        """(test set id, manifest) of a test manifest, read once."""
        if path not in self._manifests:
            testset, manifest = load_testset(path)
            self._manifests[path] = (testset.id, manifest)
        return self._manifests[path]

    @cached_property
    def suites(self) -> list[str]:
        """The suites the file's experiments use, in the order they are first named."""
        return list(dict.fromkeys(s for e in self.plan.spec.experiments.values() for s in e.suites))

    def suite_title(self, suite: str) -> str:
        return self.plan.scale.suites[suite].title or suite

    def first_run(self, model: str) -> ModelRun | None:
        """The model's run at its lowest training seed, ``None`` when the model has no run."""
        runs = sorted((r for r in self.plan.runs.values() if r.key == model), key=lambda r: r.seed)
        return runs[0] if runs else None

    def enhanced_file(self, model: str, suite: str, w: float | None, testset: str, utterance: str) -> Path | None:
        """The enhanced file of one utterance (a manifest stem and id, as in a frame) of a result at its lowest
        training and sampler seed, matched reference; ``None`` when that evaluation is not stored."""
        found = sorted((s for s in self.matching(model, suite, w, MATCHED) if s.task.manifest.stem == testset),
                       key=lambda s: (s.task.run.seed, s.task.point.seed))
        if not found:
            return None
        task = found[0].task
        testset_id, manifest = self.manifest(task.manifest)
        folder = eval_dir(task.directory, testset_id, task.point.label) / "enhanced"
        return output_path(folder, utterance, str(manifest.path))

    def normalise(self, model: str, w: float | None, condition: ReferenceCondition) -> tuple[float | None, str]:
        """The (w, condition) a model was evaluated at for a request: an unconditioned model has one point (``w-``,
        matched) whatever is asked; the null condition has no scale."""
        conditional = any(run.conditional for run in self.plan.runs.values() if run.key == model)
        if not conditional:
            return None, "matched"
        return (None if condition.kind == "null" else w), condition.label

    def matching(self, model: str, suite: str, w: float | None = 1.0,
                 condition: ReferenceCondition = ReferenceCondition(), training_seed: int | None = None,
                 sampler_seed: int | None = None) -> list[Stored]:
        """The stored evaluations of a result, optionally of one training or sampler seed."""
        w, label = self.normalise(model, w, condition)
        return [s for s in self.stored if s.task.run.key == model and s.task.suite == suite
                and s.task.point.w == w and s.task.point.condition.label == label
                and (training_seed is None or s.task.run.seed == training_seed)
                and (sampler_seed is None or s.task.point.seed == sampler_seed)]

    def complete(self, model: str, suite: str, w: float | None = 1.0,
                 condition: ReferenceCondition = ReferenceCondition()) -> bool:
        """Whether every manifest of the suite has a result for every run of the model and sampler seed."""
        expected = len(self.plan.scale.suites[suite].manifests) * len(self.plan.scale.sampler_seeds) * \
            sum(run.key == model for run in self.plan.runs.values())
        return expected > 0 and len(self.matching(model, suite, w, condition)) == expected

    def frame(self, model: str, suite: str, w: float | None = 1.0,
              condition: ReferenceCondition = ReferenceCondition(), training_seed: int | None = None,
              sampler_seed: int | None = None) -> pd.DataFrame | None:
        """Per-utterance scores of a result over the suite, averaged over its runs (or the one seed asked);
        ``None`` until every run and sampler seed of the result is evaluated on every manifest of the suite."""
        key = (model, suite, w, condition.label, training_seed, sampler_seed)
        if key not in self._frames:
            complete = self.complete(model, suite, w, condition)
            self._frames[key] = self._average(self.matching(model, suite, w, condition, training_seed, sampler_seed),
                                              suite) if complete else None
        return self._frames[key]

    def seeds(self, model: str, suite: str, w: float | None, condition: ReferenceCondition = ReferenceCondition(),
              by: str = "training") -> dict[int, pd.DataFrame]:
        """Frames of a result per training seed (``by="training"``, averaged over sampler seeds) or per sampler
        seed (averaged over training seeds)."""
        found = {}
        for stored in self.matching(model, suite, w, condition):
            seed = stored.task.run.seed if by == "training" else stored.task.point.seed
            found.setdefault(seed, []).append(stored)
        frames = {seed: self._average(stored, suite) for seed, stored in sorted(found.items())}
        return {seed: frame for seed, frame in frames.items() if frame is not None}

    def _average(self, stored: Sequence[Stored], suite: str) -> pd.DataFrame | None:
        """Stack each run's manifests (runs missing one are left out) and average the runs per utterance."""
        runs: dict[tuple[int, int], dict[Path, Stored]] = {}
        for item in stored:
            runs.setdefault((item.task.run.seed, item.task.point.seed), {})[item.task.manifest] = item
        paths = [self.plan.layout.data / p for p in self.plan.scale.suites[suite].manifests]
        frames = [self._stacked(by_manifest, paths) for by_manifest in runs.values() if set(by_manifest) == set(paths)]
        if not frames:
            return None
        metrics = [m for m in self.plan.spec.metrics if all(m in f.columns for f in frames)]
        meta = frames[0][[c for c in frames[0].columns if c not in metrics]]
        return meta.merge(mean_over_runs(frames, metrics, KEY), on=list(KEY), how="left")

    def _stacked(self, by_manifest: dict[Path, Stored], paths: Sequence[Path]) -> pd.DataFrame:
        return stack_testsets({path.stem: with_metadata(read_summary_scores(by_manifest[path].summary),
                                                        self.manifest(path)[1]) for path in paths})

    def noisy(self, suite: str) -> pd.DataFrame | None:
        """The noisy input's per-utterance scores over a suite (``None`` until every manifest was scored)."""
        parts = {}
        for relative in self.plan.scale.suites[suite].manifests:
            path = self.plan.layout.data / relative
            if not path.is_file():
                return None
            testset_id, manifest = self.manifest(path)
            noisy = read_summary(Workspace(self.plan.layout.runs).testset_dir(testset_id) / NOISY_SUMMARY_FILE)
            if noisy is None:
                return None
            parts[path.stem] = with_metadata(read_summary_scores(noisy), manifest)
        return stack_testsets(parts)

    @cached_property
    def test_manifests(self) -> list[Path]:
        """Every manifest of the plan's suites, in suite order."""
        paths = [self.plan.layout.data / p for suite in self.plan.scale.suites.values() for p in suite.manifests]
        return list(dict.fromkeys(paths))
