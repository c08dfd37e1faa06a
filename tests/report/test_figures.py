"""Figures are PNG files that hold a drawing, written atomically; intervals come from summaries and comparisons."""

import math

import numpy as np
import pytest
from matplotlib.image import imread

from ncse_cli.metrics import MetricSummary
from ncse_cli.report.figures import (Estimate, log_spectrogram, plot_embedding_map, plot_group_bars, plot_guidance,
                                     plot_spectrograms, plot_training_curves)
from ncse_cli.report.stats import PairedComparison
from tests.dummies import noise, speech


def drawn(path):
    """The PNG read back: an RGB(A) image with more than one colour (something was drawn), and no temp files."""
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    levels = np.round(image * 255).astype(np.int64).reshape(-1, image.shape[-1])  # 8 bits a channel
    colours = levels @ (256 ** np.arange(image.shape[-1]))  # one integer per colour (np.unique on rows is slow)
    assert len(np.unique(colours)) > 10
    assert not list(path.parent.glob(".*tmp*"))
    return image


def test_estimates_carry_the_intervals_of_summaries_and_comparisons():
    assert Estimate.from_summary("m", 1.0, MetricSummary(2.0, 0.1, 10, 0)) == Estimate("m", 1.0, 2.0, 1.9, 2.1)
    assert Estimate.from_summary("m", 1.0, MetricSummary(2.0, math.nan, 1, 0)).low == 2.0
    comparison = PairedComparison("pesq", 10, 0, 2.2, 2.0, 0.2, 0.1, 0.35, 0.01)
    assert Estimate.from_comparison("m", "dog", comparison) == Estimate("m", "dog", 0.2, 0.1, 0.35)


def test_guidance_plot_with_curves_and_a_baseline_level(tmp_path):
    points = [Estimate("cnn", w, 2.0 + 0.1 * w, 1.9 + 0.1 * w, 2.1 + 0.1 * w) for w in (1.0, 3.0, 5.0)]
    points += [Estimate("clap", 1.0, 2.3, 2.2, 2.4), Estimate("uncond", math.nan, 2.1, 2.0, 2.2)]
    drawn(plot_guidance(points, "pesq", tmp_path / "guidance.png", "demo"))


def test_group_bars_and_training_curves(tmp_path):
    points = [Estimate(m, g, d, d - 0.1, d + 0.1) for m, d in (("a", 0.2), ("b", -0.15))
              for g in ("dog", "rain", "siren", "engine", "wind")]
    drawn(plot_group_bars(points, "pesq", tmp_path / "bars.png", ylabel="PESQ difference to baseline"))
    rows = [{"step": s, "loss": 1.0 / s, "val_si_sdr": math.nan if s % 50 else s / 10} for s in range(10, 260, 10)]
    drawn(plot_training_curves({"a": rows, "b": rows[:5]}, tmp_path / "curves.png"))


def test_embedding_map_and_spectrograms(tmp_path):
    points = np.random.default_rng(0).normal(size=(30, 2))
    drawn(plot_embedding_map(points, ["white", "pink", "hum"] * 10, tmp_path / "map.png", "silhouette 0.12"))
    clean = speech(1.0, 16000)
    panels = [("noisy", clean + noise(1.0, 16000)), ("enhanced", clean + 0.1 * noise(1.0, 16000)), ("clean", clean)]
    drawn(plot_spectrograms(panels, 16000, tmp_path / "spec.png", "u0"))


def test_log_spectrogram_finds_a_tone_at_its_frequency():
    t = np.arange(16000) / 16000
    freqs, times, db = log_spectrogram(np.sin(2 * np.pi * 1000 * t), 16000)
    assert freqs[db.mean(axis=1).argmax()] == pytest.approx(1000, abs=16000 / 512)
    assert times[-1] == pytest.approx(1.0, abs=0.05)
