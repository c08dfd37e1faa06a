"""``ncse evaluate``: enhance test sets once per guidance scale, score them, store rows and summaries.

For each test set the unprocessed noisy input is scored once and shared by every model (under the test set's
lock, so concurrent evaluations do it once). For each guidance scale ``w`` the model enhances the test set into
``models/<name>/eval/<testset>/w<w>/enhanced/`` with the one enhancement use case
(:class:`ncse_cli.inference.Enhancer`, loaded once for every test set and scale; files already there are kept, so
an interrupted run continues), then every utterance is scored with PESQ, ESTOI and SI-SDR in ``jobs`` worker
processes. An unconditioned model (encoder ``none``), or a test set without noise references, is evaluated once,
labelled ``w-``: the guidance scale has no effect there. A finished evaluation with the same settings is reused,
one with other settings (model weights, sampler, seed) is refused unless ``overwrite``.
"""

from __future__ import annotations

import logging
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ncse_cli.audio import AudioError, audio_info, load_audio
from ncse_cli.data.manifest import Manifest
from ncse_cli.errors import NcseError
from ncse_cli.evaluation.results import (NOISY_LABEL, NOISY_SCORES_FILE, NOISY_SUMMARY_FILE, SCORES_FILE,
                                         SETTINGS_FILE, SUMMARY_FILE, ScoreSummary, read_summary)
from ncse_cli.evaluation.scoring import (ScoreJob, read_scores, score_files, scores_frame, summarize_scores,
                                         write_scores)
from ncse_cli.evaluation.testsets import TESTSET_FILE, TestSet, load_testset
from ncse_cli.files import read_json, write_json
from ncse_cli.inference.enhancer import EnhanceReport, Enhancer
from ncse_cli.inference.jobs import manifest_inputs
from ncse_cli.inference.outputs import upgrade_record
from ncse_cli.inference.settings import EnhanceSettings
from ncse_cli.metrics import DEFAULT_METRICS, METRICS_VERSION, metric_notes
from ncse_cli.progress import Progress, Task, open_task
from ncse_cli.workspace import Workspace, eval_dir, folder_lock, scale_label

log = logging.getLogger("ncse")


class EvaluationError(NcseError):
    """An evaluation that cannot run as asked (conflicting earlier results, bad options)."""


@dataclass(frozen=True)
class EvaluateOptions:
    """Options of one ``ncse evaluate`` call: the guidance scales, how to enhance (``settings``, whose ``w`` each
    scale replaces), metric worker processes, and whether results of other settings may be replaced."""

    ws: tuple[float, ...] = (1.0,)
    settings: EnhanceSettings = field(default_factory=EnhanceSettings)
    jobs: int = 1  #: metric worker processes
    overwrite: bool = False  #: replace earlier results made with other settings

    def __post_init__(self) -> None:
        if not self.ws:
            raise EvaluationError("give at least one guidance scale (-w)")
        if any(not (math.isfinite(w) and w >= 0) for w in self.ws):
            raise EvaluationError(f"guidance scales must be finite and non-negative, got {list(self.ws)}")
        if self.jobs < 1:
            raise EvaluationError(f"--jobs must be at least 1, got {self.jobs}")


def check_testset_audio(manifest: Manifest, enhancer: Enhancer, task: Task | None = None) -> None:
    """Read every file of a test set once before any work: noisy inputs and references must be usable (the
    enhancer remembers them, so enhancing does not read them again), each noisy file must have the rate and
    length its row records, and each clean file those of its noisy file."""
    for done, row in enumerate(manifest, start=1):
        noisy, clean = manifest.resolve(row.noisy), manifest.resolve(row.clean)
        enhancer.check([noisy], [] if row.noise_ref is None else [manifest.resolve(row.noise_ref)])
        rate, frames, _ = audio_info(noisy)
        if (rate, frames) != (row.sample_rate, row.num_samples):  # a stale manifest: its files were replaced
            raise AudioError(f"{noisy}: {rate} Hz, {frames} samples, but {manifest.path.name} row {row.id!r} says "
                             f"{row.sample_rate} Hz, {row.num_samples} samples")
        if (rate, frames) != audio_info(clean)[:2]:
            raise AudioError(f"{clean}: sample rate or length differs from its noisy file {noisy}")
        load_audio(clean)
        if task is not None:
            task(done, len(manifest))


def guidance_scales(enhancer: Enhancer, manifest: Manifest, scales: Sequence[float]) -> list[float | None]:
    """The scales worth evaluating: all of ``scales``, or ``[None]`` where guidance has no effect."""
    if not enhancer.conditional:
        return [None]
    if all(row.noise_ref is None for row in manifest):
        log.info("%s has no noise references: evaluated once, unconditionally (w -)", manifest.path)
        return [None]
    return list(dict.fromkeys(float(w) for w in scales))


def _score_and_store(manifest: Manifest, estimates: list[Path], path: Path, jobs: int,
                     progress: Task | None) -> tuple[dict, dict[str, str]]:
    """Score ``estimates`` against the manifest's clean files, write ``path`` (CSV); (summaries, notes)."""
    score_jobs = [ScoreJob(row.id, est, manifest.resolve(row.clean)) for row, est in zip(manifest, estimates)]
    scores = score_files(score_jobs, jobs, progress)
    extra = {"snr_db": [row.snr_db for row in manifest], "noise_type": [row.noise_type for row in manifest]}
    write_scores(path, scores_frame([row.id for row in manifest], scores, extra))
    # summarised from the file as written, so a summary always equals what scores.csv says
    return summarize_scores(read_scores(path)), metric_notes(manifest.rows[0].sample_rate)


def score_noisy(workspace: Workspace, testset: TestSet, manifest: Manifest, jobs: int = 1,
                progress: Progress | None = None) -> ScoreSummary:
    """Register the test set and score its noisy input once (reused by every later call, rescored when the
    metrics changed since: :data:`~ncse_cli.metrics.METRICS_VERSION`)."""
    folder = workspace.testset_dir(testset.id)
    with folder_lock(folder, f"scoring the noisy input of {testset.name}"):
        if not (folder / TESTSET_FILE).is_file():
            write_json(folder / TESTSET_FILE, vars(testset))
        done = read_summary(folder / NOISY_SUMMARY_FILE)
        if done is not None and done.settings.get("metrics_version") == METRICS_VERSION:
            return done
        estimates = [manifest.resolve(row.noisy) for row in manifest]
        task = open_task(progress, f"score noisy {testset.name}")
        metrics, notes = _score_and_store(manifest, estimates, folder / NOISY_SCORES_FILE, jobs, task)
        summary = ScoreSummary(testset, None, NOISY_LABEL, None, len(manifest), metrics,
                               {"metrics_version": METRICS_VERSION}, notes)
        write_json(folder / NOISY_SUMMARY_FILE, summary.to_dict())
        return read_summary(folder / NOISY_SUMMARY_FILE)


def _check_settings(folder: Path, expected: dict[str, Any], overwrite: bool) -> bool:
    """True when ``folder`` holds results of exactly ``expected``; clears other results with ``overwrite``."""
    found = read_json(folder / SETTINGS_FILE, missing_ok=True)
    if found is None:  # enhanced files of unknown provenance (settings.json is written before any) are dropped
        shutil.rmtree(folder / "enhanced", ignore_errors=True)
        return False
    found = upgrade_record(found, expected)
    if found == expected:
        return True
    changed = sorted(k for k in expected if found.get(k) != expected[k])
    if not overwrite:
        raise EvaluationError(f"{folder}: evaluated before with other {', '.join(changed)}; pass --overwrite to "
                              f"replace those results")
    log.info("%s: replacing results made with other %s", folder, ", ".join(changed))
    shutil.rmtree(folder / "enhanced", ignore_errors=True)
    for name in (SETTINGS_FILE, SCORES_FILE, SUMMARY_FILE):
        (folder / name).unlink(missing_ok=True)
    return False


def evaluate_scale(enhancer: Enhancer, testset: TestSet, manifest: Manifest, w: float | None,
                   options: EvaluateOptions, progress: Progress | None = None) -> ScoreSummary:
    """Enhance and score one test set at one guidance scale (``None``: no guidance), or reuse the result."""
    label = scale_label(w)
    folder = eval_dir(enhancer.directory, testset.id, label)
    enhancer = enhancer.with_w(1.0 if w is None else w)
    expected = {**enhancer.record(), "metrics": list(DEFAULT_METRICS), "metrics_version": METRICS_VERSION}
    with folder_lock(folder, f"evaluating {enhancer.name} on {testset.name} at {label}"):
        same = _check_settings(folder, expected, options.overwrite)
        done = read_summary(folder / SUMMARY_FILE) if same else None
        if done is not None:
            return done
        write_json(folder / SETTINGS_FILE, expected)
        inputs = manifest_inputs(manifest, folder / "enhanced", label=f"{testset.name} {label}")
        report = enhancer.run(inputs, progress)
        task = open_task(progress, f"score {testset.name} {label}")
        metrics, notes = _score_and_store(manifest, [job.out for job in inputs.jobs], folder / SCORES_FILE,
                                          options.jobs, task)
        summary = ScoreSummary(testset, enhancer.name, label, w, len(manifest), metrics, expected, notes,
                               _timing(report))
        write_json(folder / SUMMARY_FILE, summary.to_dict())
        return read_summary(folder / SUMMARY_FILE)


def _timing(report: EnhanceReport) -> dict[str, float]:
    return {"enhanced": float(report.written), "enhance_seconds": report.seconds,
            "real_time_factor": report.real_time_factor}


def evaluate(workspace: Workspace, model: str, manifests: Sequence[str | Path], options: EvaluateOptions,
             progress: Progress | None = None) -> list[ScoreSummary]:
    """Evaluate ``model`` on every manifest at every scale of ``options``: the noisy input's summary first,
    then one summary per scale, for each test set in turn. Every manifest is validated before any work."""
    if not manifests:
        raise EvaluationError("give at least one test set (--testset)")
    enhancer = Enhancer.load(workspace.resolve(model), options.settings)  # a bad --device fails first
    # the same manifest given twice (-t a -t a) is evaluated and listed once
    loaded = list({ts.id: (ts, rows) for ts, rows in (load_testset(path) for path in manifests)}.values())
    for testset, manifest in loaded:
        check_testset_audio(manifest, enhancer, open_task(progress, f"check {testset.name}"))
    summaries = []
    for testset, manifest in loaded:
        summaries.append(score_noisy(workspace, testset, manifest, options.jobs, progress))
        for w in guidance_scales(enhancer, manifest, options.ws):
            summaries.append(evaluate_scale(enhancer, testset, manifest, w, options, progress))
    return summaries
