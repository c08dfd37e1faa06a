"""The report's figures, as PNG files: metric vs guidance scale, per-group bars with intervals, training curves,
the noise-embedding map, and spectrograms of a few utterances.

Figures are drawn with matplotlib's object API on the Agg canvas (``matplotlib.figure.Figure``, never pyplot),
so drawing needs no display, keeps no global state between figures and works from worker processes. Each file
is written atomically. A series (a model) gets the same colour in every figure when the same ``series`` order
is passed.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from scipy import signal

from ncse_cli.files import atomic_write_bytes
from ncse_cli.metrics import METRICS, MetricSummary
from ncse_cli.report.stats import PairedComparison

DPI = 110
#: Spectrogram colour range below the loudest bin, in dB.
DYNAMIC_RANGE_DB = 80.0


@dataclass(frozen=True)
class Estimate:
    """A value with its interval, for one series (a model) at one x (a guidance scale or a group label)."""

    series: str
    x: float | str
    mean: float
    low: float
    high: float

    @classmethod
    def from_summary(cls, series: str, x: float | str, summary: MetricSummary) -> "Estimate":
        """Mean ± t interval of a metric summary (no interval: a point without error bar)."""
        half = summary.ci95 if math.isfinite(summary.ci95) else 0.0
        return cls(series, x, summary.mean, summary.mean - half, summary.mean + half)

    @classmethod
    def from_comparison(cls, series: str, x: float | str, comparison: PairedComparison) -> "Estimate":
        """The mean paired difference and its bootstrap interval."""
        return cls(series, x, comparison.difference, comparison.ci_low, comparison.ci_high)


def _save(fig: Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


def _colors(series: Sequence[str]) -> dict[str, str]:
    names = list(dict.fromkeys(series))
    return {name: f"C{i % 10}" for i, name in enumerate(names)}


def _errors(points: Sequence[Estimate]) -> np.ndarray:
    """Asymmetric error-bar lengths ``[2, N]``; missing bounds draw no bar."""
    low = [p.mean - p.low if math.isfinite(p.low) else 0.0 for p in points]
    high = [p.high - p.mean if math.isfinite(p.high) else 0.0 for p in points]
    return np.array([low, high])


def plot_guidance(points: Sequence[Estimate], metric: str, path: Path, title: str = "") -> Path:
    """A metric against the guidance scale, one line per model with its intervals. A point whose ``x`` is NaN
    (a model on which guidance has no effect, e.g. the unconditioned baseline) is drawn as a dashed level."""
    fig = Figure(figsize=(5.5, 3.6))
    ax = fig.subplots()
    colors = _colors([p.series for p in points])
    scales = sorted({float(p.x) for p in points if math.isfinite(float(p.x))})
    for series, color in colors.items():
        mine = sorted((p for p in points if p.series == series), key=lambda p: float(p.x))
        curve = [p for p in mine if math.isfinite(float(p.x))]
        if curve:
            ax.errorbar([float(p.x) for p in curve], [p.mean for p in curve], yerr=_errors(curve), color=color,
                        marker="o", capsize=3, label=series)
        for level in (p for p in mine if not math.isfinite(float(p.x))):
            ax.axhline(level.mean, color=color, linestyle="--", label=f"{series} (no guidance)")
            if math.isfinite(level.low) and math.isfinite(level.high):
                ax.axhspan(level.low, level.high, color=color, alpha=0.12)
    if scales:
        ax.set_xticks(scales)
    ax.set_xlabel("guidance scale w")
    ax.set_ylabel(f"{METRICS.get(metric).label} (mean, 95% CI)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_group_bars(points: Sequence[Estimate], metric: str, path: Path, title: str = "",
                    ylabel: str | None = None) -> Path:
    """Grouped bars: one group per ``x`` (noise type, SNR, test set) in the order given, one bar per series,
    each with its interval. A zero line is drawn when values change sign (differences to a baseline)."""
    groups = list(dict.fromkeys(str(p.x) for p in points))
    colors = _colors([p.series for p in points])
    width = 0.8 / max(len(colors), 1)
    fig = Figure(figsize=(max(5.0, 0.6 * len(groups) * max(len(colors), 1) + 1.5), 3.8))
    ax = fig.subplots()
    for k, (series, color) in enumerate(colors.items()):
        mine = {str(p.x): p for p in points if p.series == series}
        shown = [g for g in groups if g in mine]
        xs = [groups.index(g) - 0.4 + width * (k + 0.5) for g in shown]
        bars = [mine[g] for g in shown]
        ax.bar(xs, [b.mean for b in bars], width, yerr=_errors(bars), color=color, capsize=2, label=series)
    if any(p.low < 0 for p in points) and any(p.high > 0 for p in points):
        ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=30 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center")
    ax.set_ylabel(ylabel or f"{METRICS.get(metric).label} (mean, 95% CI)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_training_curves(logs: Mapping[str, Sequence[Mapping[str, float]]], path: Path, title: str = "") -> Path:
    """Training loss and validation SI-SDR against the step, one line per run (rows of ``train_log.csv`` as
    :func:`ncse_cli.training.read_train_log` returns them; empty cells are NaN and skipped)."""
    fig = Figure(figsize=(9.0, 3.4))
    loss_ax, sdr_ax = fig.subplots(1, 2)
    for (name, rows), color in zip(logs.items(), _colors(list(logs)).values()):
        for ax, column in ((loss_ax, "loss"), (sdr_ax, "val_si_sdr")):
            pairs = [(r["step"], r[column]) for r in rows if math.isfinite(r.get(column, math.nan))]
            if pairs:
                steps, values = zip(*pairs)
                ax.plot(steps, values, color=color, marker="o" if len(pairs) < 20 else None, markersize=3,
                        label=name)
    loss_ax.set_ylabel("training loss")
    sdr_ax.set_ylabel("validation SI-SDR (dB)")
    for ax in (loss_ax, sdr_ax):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title)
    return _save(fig, path)


def plot_embedding_map(points: np.ndarray, labels: Sequence[str], path: Path, title: str = "") -> Path:
    """A 2-D map of embeddings (``[N, 2]``, :func:`ncse_cli.report.embeddings.project_2d`), one colour per label."""
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.subplots()
    names = sorted(set(labels))
    marks = "osD^v<>P*X"
    for i, name in enumerate(names):
        mine = np.array([lab == name for lab in labels])
        ax.scatter(points[mine, 0], points[mine, 1], s=18, color=f"C{i % 10}", marker=marks[(i // 10) % len(marks)],
                   label=name)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save(fig, path)


def log_spectrogram(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frequencies, times, power in dB) of a 32 ms Hann STFT with 75 % overlap."""
    nperseg = max(16, int(round(0.032 * sample_rate)))
    freqs, times, power = signal.spectrogram(np.asarray(samples, dtype=np.float64), sample_rate, window="hann",
                                             nperseg=nperseg, noverlap=nperseg * 3 // 4)
    return freqs, times, 10 * np.log10(np.maximum(power, 1e-20))


def _edges(centres: np.ndarray) -> tuple[float, float]:
    """The outer edges of evenly spaced bins given their centres (one bin: half a unit either side)."""
    step = float(centres[1] - centres[0]) if len(centres) > 1 else 1.0
    return float(centres[0]) - step / 2, float(centres[-1]) + step / 2


def plot_spectrograms(panels: Sequence[tuple[str, np.ndarray]], sample_rate: int, path: Path,
                      title: str = "") -> Path:
    """Stacked log spectrograms of one utterance (e.g. noisy, each model's output, clean) on one colour scale:
    the loudest bin of all panels down :data:`DYNAMIC_RANGE_DB`."""
    spectra = [(name, *log_spectrogram(x, sample_rate)) for name, x in panels]
    top = max(float(db.max()) for _, _, _, db in spectra)
    fig = Figure(figsize=(7.0, 1.9 * len(spectra) + 0.4))
    axes = np.atleast_1d(fig.subplots(len(spectra), 1, sharex=True))
    for ax, (name, freqs, times, db) in zip(axes, spectra):
        image = ax.imshow(db, origin="lower", aspect="auto", interpolation="nearest", cmap="magma",
                          vmin=top - DYNAMIC_RANGE_DB, vmax=top, extent=_edges(times) + _edges(freqs / 1000))
        ax.set_ylabel("kHz")
        ax.set_title(name, fontsize="small", loc="left")
    axes[-1].set_xlabel("time (s)")
    fig.colorbar(image, ax=list(axes), label="dB", shrink=0.8)
    fig.suptitle(title)
    return _save(fig, path)
