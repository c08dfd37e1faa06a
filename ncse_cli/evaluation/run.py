"""``ncse evaluate``: enhance test sets once per guidance scale, reference condition and sampler seed, score them,
store rows and summaries.

For each test set the unprocessed noisy input is scored once and shared by every model (under the test set's
lock, so concurrent evaluations do it once). Each evaluation point (:class:`EvalPoint`: a guidance scale ``w``,
a reference condition, a sampler seed) enhances the test set into ``models/<name>/eval/<testset>/<label>/enhanced/``
(``<label>``: :func:`~ncse_cli.evaluation.conditions.result_label`, ``w1``, ``w3.mismatched``, ``w1.seed2``...),
so the results of every point lie side by side. Enhancement is the one use case (:class:`ncse_cli.inference.Enhancer`,
loaded once for every test set and point; files already there are kept, so an interrupted run continues); a
condition other than ``matched`` first writes the references it derives (:mod:`ncse_cli.evaluation.conditions`)
into the folder and enhances with those. Every utterance is then scored with PESQ, ESTOI, SI-SDR and DNSMOS
(``dnsmos=False``: without it) in ``jobs`` worker processes; a row without a clean file is scored with DNSMOS alone.
An unconditioned model (encoder ``none``), or a test set without noise references, is evaluated once per sampler seed, labelled ``w-``: neither the guidance scale nor the reference has an effect there; the null
condition does not depend on ``w`` either (``w-.null``). A finished evaluation with the same settings is reused;
one with other settings (model weights, sampler steps) is refused unless ``overwrite``; one scored with older
metrics is rescored from the enhanced files it kept.
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
from ncse_cli.evaluation.conditions import (REFERENCES_DIR, REFERENCES_FILE, ReferenceCondition,
                                            check_condition, result_label, write_references)
from ncse_cli.evaluation.results import (NOISY_LABEL, NOISY_SCORES_FILE, NOISY_SUMMARY_FILE, SCORES_FILE,
                                         SETTINGS_FILE, SUMMARY_FILE, ScoreSummary, read_summary)
from ncse_cli.evaluation.scoring import (SCORING_WARN_MB, ScoreJob, read_scores, score_files, scores_frame,
                                         scoring_memory_mb, summarize_scores, write_scores)
from ncse_cli.evaluation.testsets import TESTSET_FILE, TestSet, load_testset
from ncse_cli.files import read_json, write_json
from ncse_cli.inference.enhancer import EnhanceReport, Enhancer
from ncse_cli.inference.jobs import EnhanceInputs, EnhanceJob, manifest_inputs
from ncse_cli.inference.outputs import upgrade_record
from ncse_cli.inference.settings import EnhanceSettings
from ncse_cli.metrics import METRICS, METRICS_VERSION, evaluation_metrics, metric_notes
from ncse_cli.progress import Progress, Task, open_task
from ncse_cli.workspace import Workspace, eval_dir, folder_lock

log = logging.getLogger("ncse")


class EvaluationError(NcseError):
    """An evaluation that cannot run as asked (conflicting earlier results, bad options)."""


@dataclass(frozen=True)
class EvaluateOptions:
    """Options of one ``ncse evaluate`` call: the guidance scales, the reference conditions and sampler seeds
    (every combination is one result folder), how to enhance (``settings``, whose ``w`` and ``seed`` each point
    replaces), metric worker processes, and whether results of other settings may be replaced."""

    ws: tuple[float, ...] = (1.0,)
    settings: EnhanceSettings = field(default_factory=EnhanceSettings)
    jobs: int = 1  #: metric worker processes
    overwrite: bool = False  #: replace earlier results made with other settings
    conditions: tuple[ReferenceCondition, ...] = (ReferenceCondition(),)
    seeds: tuple[int, ...] | None = None  #: sampler seeds (``None``: ``settings.seed`` alone)
    dnsmos: bool = True  #: score DNSMOS too (rows without a clean file are scored with it alone)

    def __post_init__(self) -> None:
        if not self.ws:
            raise EvaluationError("give at least one guidance scale (-w)")
        if any(not (math.isfinite(w) and w >= 0) for w in self.ws):
            raise EvaluationError(f"guidance scales must be finite and non-negative, got {list(self.ws)}")
        if self.jobs < 1:
            raise EvaluationError(f"--jobs must be at least 1, got {self.jobs}")
        if not self.conditions:
            raise EvaluationError("give at least one reference condition (--reference)")
        if self.seeds is not None and (not self.seeds or any(seed < 0 for seed in self.seeds)):
            raise EvaluationError(f"sampler seeds must be non-negative integers, got {list(self.seeds)}")

    @property
    def sampler_seeds(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(self.seeds)) if self.seeds is not None else (self.settings.seed,)

    @property
    def metrics(self) -> tuple[str, ...]:
        return evaluation_metrics(self.dnsmos)


@dataclass(frozen=True)
class EvalPoint:
    """One result folder of a model on a test set: a guidance scale (``None``: no effect), a reference condition
    and a sampler seed."""

    w: float | None
    condition: ReferenceCondition = ReferenceCondition()
    seed: int = 0

    @property
    def label(self) -> str:
        return result_label(self.w, self.condition, self.seed)


def eval_points(conditional: bool, manifest: Manifest, options: EvaluateOptions) -> list[EvalPoint]:
    """The points worth evaluating, each once: every condition x scale x seed of ``options``, except that a model
    without a noise encoder, or a test set without references, gets one point per seed (``w-``: neither the scale
    nor the reference has an effect), and the null condition one point per seed whatever the scales."""
    seeds = options.sampler_seeds
    if not conditional or all(row.noise_ref is None for row in manifest):
        if not conditional and any(not c.is_default for c in options.conditions):
            log.info("unconditioned model (encoder none): reference conditions have no effect, evaluated once")
        elif conditional:
            log.info("%s has no noise references: evaluated once, unconditionally (w -)", manifest.path)
        return [EvalPoint(None, ReferenceCondition(), seed) for seed in seeds]
    points = []
    for condition in dict.fromkeys(options.conditions):
        scales = [None] if condition.kind == "null" else list(dict.fromkeys(float(w) for w in options.ws))
        points += [EvalPoint(w, condition, seed) for w in scales for seed in seeds]
    return points


def check_testset_audio(manifest: Manifest, enhancer: Enhancer, task: Task | None = None) -> None:
    """Read every file of a test set once before any work: noisy inputs and references must be usable (the
    enhancer remembers them, so enhancing does not read them again), each noisy file must have the rate and
    length its row records, and each clean file (where a row has one) those of its noisy file."""
    for done, row in enumerate(manifest, start=1):
        noisy, clean = manifest.resolve(row.noisy), manifest.resolve(row.clean)
        enhancer.check([noisy], [] if row.noise_ref is None else [manifest.resolve(row.noise_ref)])
        rate, frames, _ = audio_info(noisy)
        if (rate, frames) != (row.sample_rate, row.num_samples):  # a stale manifest: its files were replaced
            raise AudioError(f"{noisy}: {rate} Hz, {frames} samples, but {manifest.path.name} row {row.id!r} says "
                             f"{row.sample_rate} Hz, {row.num_samples} samples")
        if clean is not None:
            if (rate, frames) != audio_info(clean)[:2]:
                raise AudioError(f"{clean}: sample rate or length differs from its noisy file {noisy}")
            load_audio(clean)
        if task is not None:
            task(done, len(manifest))


def _say_if_scoring_is_large(manifest: Manifest, jobs: int) -> None:
    """Warn, with an estimate, when a test set's longest row needs much memory to score: enhancement reads long
    files window by window, the metrics read each utterance whole."""
    longest = max(manifest, key=lambda row: row.num_samples / row.sample_rate)
    seconds = longest.num_samples / longest.sample_rate
    need = scoring_memory_mb(seconds)
    if need > SCORING_WARN_MB:
        log.warning("%s: row %r is %.0f s long; scoring reads each utterance whole, about %.1f GB at its peak per "
                    "worker (--jobs %d); split long recordings into utterances to score them", manifest.path,
                    longest.id, seconds, need / 1024, jobs)


def check_metrics(manifest: Manifest, metrics: Sequence[str]) -> None:
    """A test set with rows without a clean file needs a metric that needs none."""
    if any(row.clean is None for row in manifest) and all(METRICS.get(m).intrusive for m in metrics):
        raise EvaluationError(f"{manifest.path}: rows without a clean file can only be scored with DNSMOS; "
                              f"drop --no-dnsmos")


def _score_and_store(manifest: Manifest, estimates: list[Path], path: Path, jobs: int, progress: Task | None,
                     metrics: Sequence[str]) -> tuple[dict, dict[str, str]]:
    """Score ``estimates`` against the manifest's clean files (where rows have them), write ``path`` (CSV);
    (summaries, notes)."""
    score_jobs = [ScoreJob(row.id, est, manifest.resolve(row.clean)) for row, est in zip(manifest, estimates)]
    scores = score_files(score_jobs, jobs, progress, metrics)
    extra = {"snr_db": [row.snr_db for row in manifest], "noise_type": [row.noise_type for row in manifest]}
    write_scores(path, scores_frame([row.id for row in manifest], scores, extra, metrics))
    # summarised from the file as written, so a summary always equals what scores.csv says
    return summarize_scores(read_scores(path), metrics), metric_notes(manifest.rows[0].sample_rate, metrics)


def _covers(settings: dict[str, Any], metrics: Sequence[str]) -> bool:
    """Results stored with ``settings`` hold every one of ``metrics`` (of the current metrics version)."""
    return (settings.get("metrics_version") == METRICS_VERSION
            and set(metrics) <= set(settings.get("metrics", evaluation_metrics(False))))


def score_noisy(workspace: Workspace, testset: TestSet, manifest: Manifest, jobs: int = 1,
                progress: Progress | None = None, metrics: Sequence[str] = evaluation_metrics()) -> ScoreSummary:
    """Register the test set and score its noisy input with ``metrics`` once (reused by every later call that asks
    for no metric it lacks; rescored when the metrics changed since: :data:`~ncse_cli.metrics.METRICS_VERSION`)."""
    folder = workspace.testset_dir(testset.id)
    with folder_lock(folder, f"scoring the noisy input of {testset.name}"):
        if not (folder / TESTSET_FILE).is_file():
            write_json(folder / TESTSET_FILE, vars(testset))
        done = read_summary(folder / NOISY_SUMMARY_FILE)
        if done is not None and _covers(done.settings, metrics):
            return done
        estimates = [manifest.resolve(row.noisy) for row in manifest]
        task = open_task(progress, f"score noisy {testset.name}")
        scores, notes = _score_and_store(manifest, estimates, folder / NOISY_SCORES_FILE, jobs, task, metrics)
        summary = ScoreSummary(testset, None, NOISY_LABEL, None, len(manifest), scores,
                               {"metrics_version": METRICS_VERSION, "metrics": list(metrics)}, notes)
        write_json(folder / NOISY_SUMMARY_FILE, summary.to_dict())
        return read_summary(folder / NOISY_SUMMARY_FILE)


#: Settings that change the scores but not the enhanced files.
SCORING_KEYS = frozenset({"metrics", "metrics_version"})


def _check_settings(folder: Path, expected: dict[str, Any], overwrite: bool) -> bool:
    """True when ``folder`` holds results of ``expected`` (or of more metrics); clears other results with
    ``overwrite``, and scores of older or fewer metrics always (the enhanced files stay, to be scored again)."""
    found = read_json(folder / SETTINGS_FILE, missing_ok=True)
    if found is None:  # enhanced files of unknown provenance (settings.json is written before any) are dropped
        _clear(folder)
        return False
    found = upgrade_record(found, expected)
    if found == expected or (_covers(found, expected["metrics"])
                             and {**found, "metrics": expected["metrics"]} == expected):
        return True
    changed = sorted(k for k in {*expected, *found} if found.get(k) != expected.get(k))
    if set(changed) <= SCORING_KEYS:
        log.info("%s: scored with older or fewer metrics; scoring its enhanced files again", folder)
        for name in (SCORES_FILE, SUMMARY_FILE):
            (folder / name).unlink(missing_ok=True)
        return False
    if not overwrite:
        raise EvaluationError(f"{folder}: evaluated before with other {', '.join(changed)}; pass --overwrite to "
                              f"replace those results")
    log.info("%s: replacing results made with other %s", folder, ", ".join(changed))
    _clear(folder)
    return False


def _clear(folder: Path) -> None:
    """Remove an evaluation folder's results (its lock stays)."""
    for name in ("enhanced", REFERENCES_DIR):
        shutil.rmtree(folder / name, ignore_errors=True)
    for name in (SETTINGS_FILE, SCORES_FILE, SUMMARY_FILE, REFERENCES_FILE):
        (folder / name).unlink(missing_ok=True)


def point_settings(enhancer: Enhancer, point: EvalPoint,
                   metrics: Sequence[str] = evaluation_metrics()) -> tuple[Enhancer, dict[str, Any]]:
    """The enhancer of one point and what its results depend on (a folder's ``settings.json``). The null
    condition enhances without a reference, which is guidance at w = 0; the matched condition records no
    ``reference`` key, so folders written before conditions existed keep being reused."""
    w = 0.0 if point.condition.kind == "null" else 1.0 if point.w is None else point.w
    enhancer = enhancer.with_settings(w=w, seed=point.seed)
    expected = {**enhancer.record(), "metrics": list(metrics), "metrics_version": METRICS_VERSION}
    if not point.condition.is_default:
        expected["reference"] = point.condition.label
    return enhancer, expected


def point_inputs(enhancer: Enhancer, manifest: Manifest, point: EvalPoint, folder: Path,
                 label: str) -> EnhanceInputs:
    """The jobs of one point: the manifest's rows with their own references, or with the references of the
    point's condition, written into ``folder`` first."""
    if point.condition.is_default:
        return manifest_inputs(manifest, folder / "enhanced", label=label)
    refs = write_references(manifest, point.condition, folder, enhancer.model.cfg.sample_rate)
    plain = manifest_inputs(manifest, folder / "enhanced", label=label)
    jobs = [EnhanceJob(job.id, job.noisy, job.out, refs[job.id]) for job in plain.jobs]
    return EnhanceInputs(jobs, plain.kind, plain.out_dir, label)


def evaluate_point(enhancer: Enhancer, testset: TestSet, manifest: Manifest, point: EvalPoint,
                   options: EvaluateOptions, progress: Progress | None = None) -> ScoreSummary:
    """Enhance and score one test set at one point, or reuse the result."""
    label = point.label
    folder = eval_dir(enhancer.directory, testset.id, label)
    enhancer, expected = point_settings(enhancer, point, options.metrics)
    with folder_lock(folder, f"evaluating {enhancer.name} on {testset.name} at {label}"):
        same = _check_settings(folder, expected, options.overwrite)
        done = read_summary(folder / SUMMARY_FILE) if same else None
        if done is not None and not _inputs_changed(enhancer, manifest, folder):
            return done
        write_json(folder / SETTINGS_FILE, expected)
        inputs = point_inputs(enhancer, manifest, point, folder, f"{testset.name} {label}")
        report = enhancer.run(inputs, progress)
        task = open_task(progress, f"score {testset.name} {label}")
        scores, notes = _score_and_store(manifest, [job.out for job in inputs.jobs], folder / SCORES_FILE,
                                         options.jobs, task, options.metrics)
        summary = ScoreSummary(testset, enhancer.name, label, point.w, len(manifest), scores, expected, notes,
                               _timing(report), condition=point.condition.label, sampler_seed=point.seed,
                               unreferenced=_unreferenced(enhancer, inputs, point))
        write_json(folder / SUMMARY_FILE, summary.to_dict())
        return read_summary(folder / SUMMARY_FILE)


def _inputs_changed(enhancer: Enhancer, manifest: Manifest, folder: Path) -> bool:
    """True when a finished point's enhanced files were not all made from today's noisy files (replaced under an
    unchanged manifest since): it is then enhanced again where they changed and scored again. Results finished
    before inputs were recorded are trusted (nothing to compare with)."""
    made = enhancer.inputs_log(folder / "enhanced")
    if not made.exists:
        return False
    plain = [EnhanceJob(job.id, job.noisy, job.out) for job in manifest_inputs(manifest, folder / "enhanced").jobs]
    stale = made.stale(plain, references=False)
    if stale:
        log.info("%s: %s; enhanced and scored again", stale[0].job.out, stale[0].reason)
    return bool(stale)


def _unreferenced(enhancer: Enhancer, inputs: EnhanceInputs, point: EvalPoint) -> int:
    """How many rows of a conditioned point were enhanced without a reference (the null condition), which its
    summary counts so that tables can say so; none where no row is conditioned (``w-``, the null condition)."""
    if not enhancer.conditional or point.w is None or point.condition.kind == "null":
        return 0
    if inputs.without_reference:
        log.warning("%s: %d of %d rows have no noise reference and were enhanced unconditionally (counted as "
                    "'no ref' in the results)", inputs.label, inputs.without_reference, len(inputs.jobs))
    return inputs.without_reference


def _timing(report: EnhanceReport) -> dict[str, float]:
    return {"enhanced": float(report.written), "enhance_seconds": report.seconds,
            "real_time_factor": report.real_time_factor}


def evaluate(workspace: Workspace, model: str, manifests: Sequence[str | Path], options: EvaluateOptions,
             progress: Progress | None = None) -> list[ScoreSummary]:
    """Evaluate ``model`` on every manifest at every point of ``options`` (:func:`eval_points`): the noisy input's
    summary first, then one summary per point, for each test set in turn. Every manifest (and every condition's
    needs) is validated before any work."""
    if not manifests:
        raise EvaluationError("give at least one test set (--testset)")
    enhancer = Enhancer.load(workspace.resolve(model), options.settings)  # a bad --device fails first
    # the same manifest given twice (-t a -t a) is evaluated and listed once
    loaded = list({ts.id: (ts, rows) for ts, rows in (load_testset(path) for path in manifests)}.values())
    plans = [(testset, manifest, eval_points(enhancer.conditional, manifest, options)) for testset, manifest in loaded]
    return evaluate_plans(workspace, enhancer, plans, options, progress)


def evaluate_points(workspace: Workspace, model: str, points: Sequence[tuple[str | Path, Sequence[EvalPoint]]],
                    options: EvaluateOptions, progress: Progress | None = None,
                    enhancer: Enhancer | None = None) -> list[ScoreSummary]:
    """Evaluate ``model`` at chosen points per manifest (``[(manifest, points), ...]``; the scales, conditions and
    seeds of ``options`` are not used); ``enhancer`` is the model already loaded with ``options.settings``."""
    enhancer = enhancer or Enhancer.load(workspace.resolve(model), options.settings)
    plans = [(*load_testset(path), list(chosen)) for path, chosen in points]
    return evaluate_plans(workspace, enhancer, plans, options, progress)


def evaluate_plans(workspace: Workspace, enhancer: Enhancer, plans: Sequence[tuple[TestSet, Manifest, list[EvalPoint]]],
                   options: EvaluateOptions, progress: Progress | None = None) -> list[ScoreSummary]:
    """Check every test set (audio, each condition's needs), then per test set score its noisy input and evaluate
    its points; the noisy summary first, then one per point, per test set."""
    for testset, manifest, points in plans:
        check_metrics(manifest, options.metrics)
        # a point without a scale (w-: no reference reaches the model) needs no reference in any row
        for condition in dict.fromkeys(p.condition for p in points if p.w is not None):
            check_condition(manifest, condition)
        check_testset_audio(manifest, enhancer, open_task(progress, f"check {testset.name}"))
        _say_if_scoring_is_large(manifest, options.jobs)
    summaries = []
    for testset, manifest, points in plans:
        summaries.append(score_noisy(workspace, testset, manifest, options.jobs, progress, options.metrics))
        summaries += [evaluate_point(enhancer, testset, manifest, point, options, progress) for point in points]
    return summaries
