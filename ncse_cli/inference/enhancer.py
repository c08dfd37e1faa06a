"""Enhance audio files with a trained model: resumable, deterministic per utterance, batched by shape.

Each utterance's sampler noise comes from its own generator, seeded by ``(seed, utterance id)``
(:func:`utterance_generator`), so an output depends neither on the order of the files nor on which others share
its batch. Only utterances whose noisy input and reference have the same shape are batched together: padding
would change results (GroupNorm statistics and attention span the whole spectrogram), so there is none, and a
batched output equals the unbatched one up to float rounding. Inputs at another sample rate than the model's are
resampled in and the output back out (:func:`ncse_cli.audio.resample_audio`), then cut to the input's length.
An output file that already exists is skipped, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from ncse_cli.audio import Audio, AudioError, audio_info, load_audio, resample_audio, save_audio
from ncse_cli.config import to_dict
from ncse_cli.data.seeding import child_seed, item_rng
from ncse_cli.enhancement import enhance
from ncse_cli.errors import NcseError
from ncse_cli.files import read_json, write_json
from ncse_cli.model import ScoreModel
from ncse_cli.progress import Task
from ncse_cli.sampling.pc import PCConfig

log = logging.getLogger("ncse")

#: What the outputs of ``ncse enhance`` in a folder were made with (hidden, so never read back as audio).
OUTPUT_SETTINGS_FILE = ".ncse-enhance.json"


class EnhanceError(NcseError, ValueError):
    """Enhancement options that cannot work."""


@dataclass(frozen=True)
class EnhanceJob:
    """One file to enhance: its id (seeds its generator), input, optional noise reference and output path."""

    id: str
    noisy: Path
    out: Path
    noise_ref: Path | None = None


@dataclass(frozen=True)
class EnhanceSettings:
    """What an enhanced file depends on besides the model and its input (stored with evaluations)."""

    cfg_scale: float = 1.0
    sampler: Any = field(default_factory=PCConfig)  #: a registered sampler's config
    seed: int = 0
    batch_size: int = 1  #: utterances per forward (does not change results, so not part of :meth:`to_dict`)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise EnhanceError(f"batch size must be at least 1, got {self.batch_size}")
        if not 0 <= self.cfg_scale < float("inf"):
            raise EnhanceError(f"guidance scale must be finite and non-negative, got {self.cfg_scale}")
        if self.sampler.steps < 1:
            raise EnhanceError(f"sampler steps must be at least 1, got {self.sampler.steps}")

    def to_dict(self) -> dict[str, Any]:
        return {"cfg_scale": self.cfg_scale, "sampler": to_dict(self.sampler), "seed": self.seed}


@dataclass
class EnhanceReport:
    """What a run did: files written, skipped because they existed, enhanced without a reference."""

    total: int = 0
    written: int = 0
    skipped: int = 0
    unconditional: int = 0
    audio_seconds: float = 0.0  #: duration of the audio written
    seconds: float = 0.0  #: wall-clock time spent

    @property
    def real_time_factor(self) -> float:
        """Processing time per second of audio (NaN when nothing was written)."""
        return self.seconds / self.audio_seconds if self.audio_seconds else float("nan")


def utterance_generator(seed: int, key: str) -> torch.Generator:
    """The sampler generator of one utterance: a pure function of ``(seed, key)``."""
    return torch.Generator().manual_seed(child_seed(item_rng(seed, "enhance", key)))


def _shape_key(job: EnhanceJob, use_ref: bool) -> tuple:
    """Jobs with equal keys have equally shaped inputs at the model rate and may share a batch."""
    rate, frames, _ = audio_info(job.noisy)
    ref = audio_info(job.noise_ref)[:2] if use_ref and job.noise_ref is not None else None
    return (ref is not None, rate, frames, ref)


def plan_batches(jobs: Sequence[EnhanceJob], batch_size: int, use_ref: bool) -> list[list[EnhanceJob]]:
    """Group jobs into batches of equal input shapes (reading headers only), each at most ``batch_size``."""
    keyed = sorted(((_shape_key(job, use_ref), i, job) for i, job in enumerate(jobs)), key=lambda k: (k[0], k[1]))
    batches = []
    for _, group in groupby(keyed, key=lambda k: k[0]):
        members = [job for _, _, job in group]
        batches += [members[i:i + batch_size] for i in range(0, len(members), batch_size)]
    return batches


def _at_rate(path: Path, audio: Audio, rate: int, min_samples: int) -> torch.Tensor:
    """``audio`` resampled to ``rate``; too short for one STFT frame is an error naming the file."""
    samples = resample_audio(audio.samples, audio.sample_rate, rate)
    if len(samples) < min_samples:
        raise AudioError(f"{path}: too short ({audio.seconds:.3f} s; need {min_samples} samples at {rate} Hz)")
    return torch.from_numpy(samples)


def _load_batch(batch: Sequence[EnhanceJob], model: ScoreModel, use_ref: bool):
    rate, min_samples = model.cfg.sample_rate, model.cfg.stft.n_fft
    originals = [load_audio(job.noisy) for job in batch]
    inputs = torch.stack([_at_rate(job.noisy, a, rate, min_samples) for job, a in zip(batch, originals)])
    refs = None
    if use_ref and batch[0].noise_ref is not None:
        refs = torch.stack([_at_rate(job.noise_ref, load_audio(job.noise_ref), rate, min_samples) for job in batch])
    return originals, inputs, refs


def enhance_batch(model: ScoreModel, batch: Sequence[EnhanceJob], settings: EnhanceSettings) -> tuple[int, float]:
    """Enhance and write one batch; returns (utterances enhanced without a reference, seconds of audio)."""
    originals, inputs, refs = _load_batch(batch, model, model.conditional)
    generators = [utterance_generator(settings.seed, job.id) for job in batch]
    # without a reference a conditioned model runs its null-condition (unconditional) branch alone
    result = enhance(model, inputs, refs, cfg_scale=settings.cfg_scale, sampler=settings.sampler,
                     generator=generators)
    audio_seconds = 0.0
    for job, original, wave in zip(batch, originals, result.waveform.cpu().numpy()):
        out = resample_audio(wave, model.cfg.sample_rate, original.sample_rate)
        out = fit_length(out, len(original.samples))
        save_audio(job.out, out, original.sample_rate)
        audio_seconds += original.seconds
    return (len(batch) if refs is None else 0), audio_seconds


def fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Cut or zero-pad to ``length`` (resampling there and back can be a sample off)."""
    if len(samples) >= length:
        return samples[:length]
    return np.pad(samples, (0, length - len(samples)))


def check_inputs(noisy: Iterable[Path], refs: Iterable[Path], model: ScoreModel,
                 progress: Task | None = None) -> None:
    """Read every input and reference once, so that a missing, corrupt, empty, too short or NaN file is reported
    (by name) before anything is enhanced or written. References are skipped for an unconditioned model."""
    rate, min_samples = model.cfg.sample_rate, model.cfg.stft.n_fft
    paths = [*noisy, *(sorted(set(refs)) if model.conditional else [])]
    if progress is not None:
        progress(0, len(paths))  # nothing to read (a finished re-run) is a complete task, not an endless one
    for done, path in enumerate(paths, start=1):
        _at_rate(path, load_audio(path), rate, min_samples)
        if progress is not None:
            progress(done, len(paths))


def pending_inputs(jobs: Sequence[EnhanceJob]) -> tuple[list[Path], list[Path]]:
    """Noisy files and references of the jobs whose output does not exist yet."""
    pending = [job for job in jobs if not job.out.is_file()]
    return [job.noisy for job in pending], [job.noise_ref for job in pending if job.noise_ref is not None]


def check_output_settings(out_dir: Path, expected: dict[str, Any]) -> None:
    """Record in ``out_dir`` what its outputs depend on (:data:`OUTPUT_SETTINGS_FILE`). Existing outputs are kept,
    so a re-run with another model or other settings would silently mix two kinds of output: refuse it."""
    path = out_dir / OUTPUT_SETTINGS_FILE
    found = read_json(path, missing_ok=True)
    if found is not None and found != expected:
        changed = ", ".join(sorted(k for k in {*expected, *found} if found.get(k) != expected.get(k)))
        raise EnhanceError(f"{out_dir}: holds outputs made with other {changed}; choose another --out (or empty it)")
    if found is None:
        write_json(path, expected)


def enhance_files(model: ScoreModel, jobs: Sequence[EnhanceJob], settings: EnhanceSettings,
                  progress: Task | None = None) -> EnhanceReport:
    """Enhance every job whose output does not exist yet; outputs are written atomically."""
    start = time.perf_counter()
    pending = [job for job in jobs if not job.out.is_file()]
    report = EnhanceReport(total=len(jobs), skipped=len(jobs) - len(pending))
    batches = plan_batches(pending, settings.batch_size, model.conditional)
    if progress is not None:
        progress(report.skipped, report.total)
    for batch in batches:
        unconditional, audio_seconds = enhance_batch(model, batch, settings)
        report.written += len(batch)
        report.unconditional += unconditional
        report.audio_seconds += audio_seconds
        if progress is not None:
            progress(report.skipped + report.written, report.total)
    report.seconds = time.perf_counter() - start
    return report

