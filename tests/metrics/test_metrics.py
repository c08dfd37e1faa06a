"""Metrics: closed forms (SI-SDR), maxima on identical signals (PESQ, ESTOI), failures recorded as missing,
and the t confidence interval on known numbers."""

import math

import numpy as np
import pytest

from ncse_cli.audio import resample_audio
from ncse_cli.metrics import (METRICS, MetricFailure, MetricSummary, estoi, pesq_wb, score_utterance, si_sdr,
                              summarize)
from ncse_cli.metrics.scoring import metric_notes
from tests.dummies import noise, speech


@pytest.fixture(scope="module")
def clean():
    return speech(2.0, seed=3)


def orthogonal_noise(signal: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """Zero-mean noise orthogonal to the zero-mean ``signal`` at exactly ``snr_db``."""
    s = signal - signal.mean()
    n = np.random.default_rng(seed).standard_normal(len(s))
    n -= n.mean()
    n -= (n @ s) / (s @ s) * s
    n -= n.mean()  # s is zero-mean, so n stays orthogonal to it
    return n * np.sqrt((s @ s) / (n @ n) / 10 ** (snr_db / 10))


def test_si_sdr_is_scale_invariant_and_huge_for_a_scaled_copy(clean):
    assert si_sdr(0.3 * clean, clean) > 100
    estimate = clean + 0.1 * noise(2.0, seed=1)
    assert si_sdr(5.0 * estimate.astype(np.float64), clean) == pytest.approx(si_sdr(estimate, clean), abs=1e-6)


@pytest.mark.parametrize("snr", [-5.0, 0.0, 7.5])
def test_si_sdr_of_signal_plus_orthogonal_noise_is_the_snr(clean, snr):
    s = clean.astype(np.float64) - clean.mean()
    assert si_sdr(s + orthogonal_noise(s, snr), s) == pytest.approx(snr, abs=1e-6)


def test_pesq_and_estoi_are_maximal_for_the_clean_signal(clean):
    assert pesq_wb(clean, clean, 16000) == pytest.approx(4.64, abs=0.01)
    assert estoi(clean, clean, 16000) == pytest.approx(1.0, abs=1e-6)
    degraded = clean + 0.3 * noise(2.0, seed=2, level=0.5)
    assert pesq_wb(degraded, clean, 16000) < 3.0
    assert estoi(degraded, clean, 16000) < 0.95


def test_pesq_resamples_other_rates_to_16k_and_says_so(clean):
    clean48 = resample_audio(clean, 16000, 48000)
    assert pesq_wb(clean48, clean48, 48000) == pytest.approx(4.64, abs=0.01)
    assert "resampled from 48000 Hz" in metric_notes(48000)["pesq"]
    assert "resampled" not in metric_notes(16000)["pesq"]


def test_undefined_metrics_raise_metric_failure(clean):
    silent = np.zeros_like(clean)
    with pytest.raises(MetricFailure, match="silent"):
        pesq_wb(clean, silent, 16000)
    with pytest.raises(MetricFailure, match="silent"):
        pesq_wb(silent, clean, 16000)
    with pytest.raises(MetricFailure, match="non-silent"):
        estoi(clean[:3000], clean[:3000], 16000)  # fewer than 30 frames
    with pytest.raises(MetricFailure, match="silent"):
        estoi(clean, silent, 16000)
    with pytest.raises(MetricFailure, match="constant"):
        METRICS.get("si_sdr").fn(clean, silent, 16000)


def test_a_failed_metric_is_missing_for_the_row_and_counted_in_the_summary(clean):
    silent = score_utterance(clean, np.zeros_like(clean), 16000)
    assert math.isnan(silent.values["pesq"]) and "pesq" in silent.errors
    good = score_utterance(clean, clean, 16000)
    assert good.errors == {}
    summary = summarize([good.values["pesq"], silent.values["pesq"]])
    assert (summary.n, summary.missing) == (1, 1)
    assert summary.mean == pytest.approx(good.values["pesq"])


def test_confidence_interval_matches_the_t_formula():
    # mean 3, sample sd sqrt(2.5), t_{0.975,4} = 2.7764451052
    summary = summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert summary.mean == 3.0
    assert summary.ci95 == pytest.approx(2.7764451052 * math.sqrt(2.5) / math.sqrt(5), rel=1e-9)
    assert (summary.n, summary.missing) == (5, 0)


def test_summary_edge_cases_and_json_round_trip():
    one = summarize([2.0, float("nan")])
    assert one.mean == 2.0 and math.isnan(one.ci95) and one.missing == 1
    none = summarize([float("nan")] * 3)
    assert math.isnan(none.mean) and (none.n, none.missing) == (0, 3)
    data = none.to_dict()
    assert data["mean"] is None and data["ci95"] is None
    back = MetricSummary.from_dict(data)
    assert math.isnan(back.mean) and back.missing == 3
