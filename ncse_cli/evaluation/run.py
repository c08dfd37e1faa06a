"""``ncse evaluate``: enhance test sets once per guidance scale, score them, store rows and summaries.

For each test set the unprocessed noisy input is scored once and shared by every model (under the test set's
lock, so concurrent evaluations do it once). For each guidance scale ``w`` the model enhances the test set into
``models/<name>/eval/<testset>/w<w>/enhanced/`` (files already there are kept, so an interrupted run continues),
then every utterance is scored with PESQ, ESTOI and SI-SDR in ``jobs`` worker processes. An unconditioned model
(encoder ``none``), or a test set without noise references, is evaluated once, labelled ``w-``: the guidance
scale has no effect there. A finished evaluation with the same settings is reused, one with other settings
(model weights, sampler, seed) is refused unless ``overwrite``.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from ncse_cli.audio import AudioError, audio_info, load_audio
from ncse_cli.model_dir import CONFIG_FILE, WEIGHTS_FILE, load_model
from ncse_cli.config import ConfigError, from_dict, load_yaml
from ncse_cli.device import resolve_device
from ncse_cli.data.manifest import Manifest
from ncse_cli.errors import NcseError
from ncse_cli.files import read_json, write_json
from ncse_cli.inference.enhancer import EnhanceReport, EnhanceSettings, check_inputs, enhance_files
from ncse_cli.inference.jobs import manifest_jobs
from ncse_cli.evaluation.results import (NOISY_LABEL, NOISY_SCORES_FILE, NOISY_SUMMARY_FILE, SCORES_FILE,
                                         SETTINGS_FILE, SUMMARY_FILE, ScoreSummary, read_summary)
from ncse_cli.evaluation.scoring import (ScoreJob, read_scores, score_files, scores_frame, summarize_scores,
                                         write_scores)
from ncse_cli.evaluation.testsets import TESTSET_FILE, TestSet, load_testset
from ncse_cli.metrics import DEFAULT_METRICS, METRICS_VERSION, metric_notes
from ncse_cli.model import ScoreModel
from ncse_cli.progress import Progress, Task
from ncse_cli.sampling import SAMPLERS
from ncse_cli.sampling.pc import PCConfig
from ncse_cli.workspace import Workspace, eval_dir, file_sha256, folder_lock, scale_label

log = logging.getLogger("ncse")

class EvaluationError(NcseError):
    """An evaluation that cannot run as asked (conflicting earlier results, bad options)."""


@dataclass(frozen=True)
class EvaluateOptions:
    """Options of one ``ncse evaluate`` call."""

    cfg_scales: tuple[float, ...] = (1.0,)
    steps: int | None = None  #: sampler steps (default: the model's saved sampler, else 30)
    seed: int = 0
    jobs: int = 1  #: metric worker processes
    batch_size: int = 1  #: utterances per forward pass
    overwrite: bool = False  #: replace earlier results made with other settings
    device: str = "auto"  #: where the model runs (:func:`ncse_cli.device.resolve_device`)

    def __post_init__(self) -> None:
        if not self.cfg_scales:
            raise EvaluationError("give at least one guidance scale (--cfg-scale)")
        if any(not 0 <= w < float("inf") for w in self.cfg_scales):
            raise EvaluationError(f"guidance scales must be finite and non-negative, got {list(self.cfg_scales)}")
        if self.steps is not None and self.steps < 1:
            raise EvaluationError(f"--steps must be at least 1, got {self.steps}")
        if self.jobs < 1 or self.batch_size < 1:
            raise EvaluationError("--jobs and --batch-size must be at least 1")


def model_sampler(model_dir: Path, steps: int | None = None) -> Any:
    """The sampler config saved with a model (``sampler:`` of its config.yaml; default pc), ``steps`` replaced."""
    data = load_yaml(Path(model_dir) / CONFIG_FILE).get("sampler")
    if data is None:
        sampler = PCConfig()
    else:
        options = {"name": data} if isinstance(data, str) else dict(data)
        try:
            sampler = from_dict(SAMPLERS.get(options.pop("name", "pc")).Config, options, "sampler")
        except (ConfigError, KeyError) as err:
            raise EvaluationError(f"{model_dir / CONFIG_FILE}: {err}") from None
    return sampler if steps is None else dataclasses.replace(sampler, steps=steps)


def check_testset_audio(manifest: Manifest, model: ScoreModel, progress: Task | None = None) -> None:
    """Read every file of a test set once before any work: noisy inputs and references must be usable, each
    noisy file must have the rate and length its row records, and each clean file those of its noisy file."""
    checked_refs: set[Path] = set()  # a reference shared by several rows is read once
    for done, row in enumerate(manifest, start=1):
        noisy, clean = manifest.resolve(row.noisy), manifest.resolve(row.clean)
        ref = None if row.noise_ref is None else manifest.resolve(row.noise_ref)
        check_inputs([noisy], [] if ref is None or ref in checked_refs else [ref], model)
        checked_refs.add(ref)
        rate, frames, _ = audio_info(noisy)
        if (rate, frames) != (row.sample_rate, row.num_samples):  # a stale manifest: its files were replaced
            raise AudioError(f"{noisy}: {rate} Hz, {frames} samples, but {manifest.path.name} row {row.id!r} says "
                             f"{row.sample_rate} Hz, {row.num_samples} samples")
        if (rate, frames) != audio_info(clean)[:2]:
            raise AudioError(f"{clean}: sample rate or length differs from its noisy file {noisy}")
        load_audio(clean)
        if progress is not None:
            progress(done, len(manifest))


def guidance_scales(model: ScoreModel, manifest: Manifest, scales: Sequence[float]) -> list[float | None]:
    """The scales worth evaluating: all of ``scales``, or ``[None]`` where guidance has no effect."""
    if not model.conditional:
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
        task = progress(f"score noisy {testset.name}") if progress else None
        metrics, notes = _score_and_store(manifest, estimates, folder / NOISY_SCORES_FILE, jobs, task)
        summary = ScoreSummary(testset, None, NOISY_LABEL, None, len(manifest), metrics,
                               {"metrics_version": METRICS_VERSION}, notes)
        write_json(folder / NOISY_SUMMARY_FILE, summary.to_dict())
        return read_summary(folder / NOISY_SUMMARY_FILE)


@dataclass
class ModelUnderTest:
    """A loaded model with what its results are filed under."""

    name: str
    directory: Path
    model: ScoreModel
    sha256: str  #: of its weights file: results of other weights are never mixed in


def load_model_under_test(workspace: Workspace, model: str, device: torch.device) -> ModelUnderTest:
    """Resolve a registered name or a model directory and load it onto ``device``."""
    directory = workspace.resolve(model)
    loaded = load_model(directory, device)
    return ModelUnderTest(directory.name, directory, loaded, file_sha256(directory / WEIGHTS_FILE))


def _check_settings(folder: Path, expected: dict[str, Any], overwrite: bool) -> bool:
    """True when ``folder`` holds results of exactly ``expected``; clears other results with ``overwrite``."""
    found = read_json(folder / SETTINGS_FILE, missing_ok=True)
    if found is None:  # enhanced files of unknown provenance (settings.json is written before any) are dropped
        shutil.rmtree(folder / "enhanced", ignore_errors=True)
        return False
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


def evaluate_scale(mut: ModelUnderTest, testset: TestSet, manifest: Manifest, w: float | None,
                   settings: EnhanceSettings, options: EvaluateOptions,
                   progress: Progress | None = None) -> ScoreSummary:
    """Enhance and score one test set at one guidance scale (``None``: no guidance), or reuse the result."""
    label = scale_label(w)
    folder = eval_dir(mut.directory, testset.id, label)
    expected = {"model_sha256": mut.sha256, **settings.to_dict(), "metrics": list(DEFAULT_METRICS),
                "metrics_version": METRICS_VERSION}
    with folder_lock(folder, f"evaluating {mut.name} on {testset.name} at {label}"):
        same = _check_settings(folder, expected, options.overwrite)
        done = read_summary(folder / SUMMARY_FILE) if same else None
        if done is not None:
            return done
        write_json(folder / SETTINGS_FILE, expected)
        jobs = manifest_jobs(manifest, folder / "enhanced")
        task = progress(f"enhance {testset.name} {label}") if progress else None
        report = enhance_files(mut.model, jobs, settings, task)
        task = progress(f"score {testset.name} {label}") if progress else None
        metrics, notes = _score_and_store(manifest, [job.out for job in jobs], folder / SCORES_FILE, options.jobs,
                                          task)
        summary = ScoreSummary(testset, mut.name, label, w, len(manifest), metrics, expected, notes,
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
    device = resolve_device(options.device)  # a bad --device fails before any manifest is read
    # the same manifest given twice (-t a -t a) is evaluated and listed once
    loaded = list({ts.id: (ts, rows) for ts, rows in (load_testset(path) for path in manifests)}.values())
    mut = load_model_under_test(workspace, model, device)
    for testset, manifest in loaded:
        check_testset_audio(manifest, mut.model, progress(f"check {testset.name}") if progress else None)
    sampler = model_sampler(mut.directory, options.steps)
    summaries = []
    for testset, manifest in loaded:
        summaries.append(score_noisy(workspace, testset, manifest, options.jobs, progress))
        for w in guidance_scales(mut.model, manifest, options.cfg_scales):
            settings = EnhanceSettings(1.0 if w is None else w, sampler, options.seed, options.batch_size)
            summaries.append(evaluate_scale(mut, testset, manifest, w, settings, options, progress))
    return summaries
