"""Scoring files in parallel: one job per utterance, results in job order, stored as ``scores.csv``.

Workers are separate processes (``--jobs``; PESQ and ESTOI hold the GIL: :func:`ncse_cli.workers.run_parallel`).
Results come back in the order of the jobs whatever the number of workers, so a ``scores.csv`` does not depend
on ``--jobs``.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from ncse_cli.audio import AudioError, load_audio
from ncse_cli.files import atomic_write_text
from ncse_cli.metrics import DEFAULT_METRICS, METRICS, MetricSummary, UtteranceScores, score_utterance, summarize
from ncse_cli.progress import Task
from ncse_cli.workers import run_parallel

#: Fewer utterances are scored in this process: starting worker processes (about 3 s) costs more than it saves
#: (a 2 s utterance takes about 35 ms; see benchmarks/bench_enhance.py).
MIN_PARALLEL = 64


@dataclass(frozen=True)
class ScoreJob:
    """One utterance to score: the signal under test against its clean reference (None: a recording without one,
    scored by the non-intrusive metrics only)."""

    id: str
    estimate: Path
    reference: Path | None


#: Peak memory that scoring one utterance adds, per second of audio (PESQ, ESTOI and SI-SDR of a 16 kHz
#: utterance, measured: 89 MB for 30 s, 397 MB for 120 s): metrics read each utterance whole, unlike enhancement.
SCORING_MB_PER_SECOND = 3.3
#: Above this estimate per worker, ``ncse evaluate`` warns before it starts.
SCORING_WARN_MB = 1024.0


def scoring_memory_mb(seconds: float) -> float:
    """About how much memory scoring an utterance of ``seconds`` takes at its peak (MB, one worker)."""
    return seconds * SCORING_MB_PER_SECOND

def score_job(job: ScoreJob, metrics: Sequence[str] = DEFAULT_METRICS) -> UtteranceScores:
    """Read both files and score them; different rates or lengths are an error naming both files."""
    est = load_audio(job.estimate)
    if job.reference is None:
        return score_utterance(est.samples, None, est.sample_rate, metrics)
    ref = load_audio(job.reference)
    if est.sample_rate != ref.sample_rate or len(est.samples) != len(ref.samples):
        raise AudioError(f"{job.estimate}: {len(est.samples)} samples at {est.sample_rate} Hz, but its clean "
                         f"reference {job.reference} has {len(ref.samples)} at {ref.sample_rate} Hz")
    return score_utterance(est.samples, ref.samples, ref.sample_rate, metrics)


def score_files(jobs: Sequence[ScoreJob], workers: int = 1, progress: Task | None = None,
                metrics: Sequence[str] = DEFAULT_METRICS) -> list[UtteranceScores]:
    """Score every job with ``metrics``, in ``workers`` processes when more than one (and enough jobs); results in
    job order."""
    done = [0]

    def count(index: int, scores: UtteranceScores) -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], len(jobs))

    workers = workers if len(jobs) >= MIN_PARALLEL else 1
    return run_parallel(functools.partial(score_job, metrics=tuple(metrics)), jobs, workers, on_result=count,
                        chunksize=max(1, len(jobs) // (8 * workers)))


def scores_frame(ids: Sequence[str], scores: Sequence[UtteranceScores], extra: dict[str, Sequence] | None = None,
                 metrics: Sequence[str] = DEFAULT_METRICS) -> pd.DataFrame:
    """One row per utterance: ``id``, one column per metric (NaN where missing), extra columns, ``errors``."""
    frame = pd.DataFrame({"id": list(ids)})
    for name in metrics:
        frame[name] = [s.values[name] for s in scores]
    for column, values in (extra or {}).items():
        frame[column] = list(values)
    frame["errors"] = ["; ".join(f"{k}: {v}" for k, v in s.errors.items()) for s in scores]
    return frame


def write_scores(path: Path, frame: pd.DataFrame) -> None:
    """Write a scores table as CSV atomically (missing values as empty cells)."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, float_format="%.6g")
    atomic_write_text(path, buffer.getvalue())


def read_scores(path: Path) -> pd.DataFrame:
    """Read a ``scores.csv`` back (ids as strings, empty cells as NaN)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in [*METRICS.names(), "snr_db"]:
        if column in frame:
            frame[column] = pd.to_numeric(frame[column].replace("", None), errors="raise").astype(float)
    return frame


def summarize_scores(frame: pd.DataFrame, metrics: Sequence[str] = DEFAULT_METRICS) -> dict[str, MetricSummary]:
    """Mean, 95% confidence interval, count and missing count of every metric column."""
    return {name: summarize(frame[name].astype(float)) for name in metrics}
