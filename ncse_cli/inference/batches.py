"""From files to tensors: batches of equally shaped inputs at the model's sample rate, one generator each.

Only utterances whose noisy input and reference have the same shape share a batch: padding would change the
results (GroupNorm statistics and attention span the whole spectrogram), so there is none, and a batched output
equals the unbatched one up to float rounding. Each utterance's sampler noise comes from its own generator,
seeded by ``(seed, utterance id)`` (:func:`utterance_generator`), so an output depends neither on the order of
the files nor on which others share its batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Sequence

import torch

from ncse_cli.audio import Audio, AudioError, audio_info, load_audio, resample_audio
from ncse_cli.data.seeding import child_seed, item_rng
from ncse_cli.inference.jobs import EnhanceJob


@dataclass(frozen=True)
class Batch:
    """Jobs of equal input shapes with their audio as read, and the tensors the model takes."""

    jobs: list[EnhanceJob]
    originals: list[Audio]  #: the noisy inputs as read (their rate and length are the outputs')
    noisy: torch.Tensor  #: [B, L] at the model's rate
    noise_ref: torch.Tensor | None  #: [B, R] at the model's rate; ``None``: enhanced unconditionally


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


def at_rate(path: Path, audio: Audio, rate: int, min_samples: int) -> torch.Tensor:
    """``audio`` resampled to ``rate``; too short for one STFT frame is an error naming the file."""
    samples = resample_audio(audio.samples, audio.sample_rate, rate)
    if len(samples) < min_samples:
        raise AudioError(f"{path}: too short ({audio.seconds:.3f} s; need {min_samples} samples at {rate} Hz)")
    return torch.from_numpy(samples)


def load_batch(jobs: list[EnhanceJob], rate: int, min_samples: int, use_ref: bool) -> Batch:
    """Read the jobs' inputs (and references, when ``use_ref`` and the jobs have them) at ``rate``."""
    originals = [load_audio(job.noisy) for job in jobs]
    noisy = torch.stack([at_rate(job.noisy, audio, rate, min_samples) for job, audio in zip(jobs, originals)])
    refs = None
    if use_ref and jobs[0].noise_ref is not None:
        refs = torch.stack([at_rate(job.noise_ref, load_audio(job.noise_ref), rate, min_samples) for job in jobs])
    return Batch(jobs, originals, noisy, refs)
