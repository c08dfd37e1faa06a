"""Synthetic speech and noise: reproducible, the right length and level, and with the spectra they claim."""

from __future__ import annotations

import numpy as np
import pytest
from pesq import pesq
from scipy import signal

from ncse_cli.data.mixing import mix_at_snr
from ncse_cli.data.synth import SYNTH_EVENTS, SYNTH_NOISES, make_talkers, synth_event, synth_noise, synth_speech

SR = 16000


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _slope(x: np.ndarray, low: float = 100.0, high: float = 4000.0) -> float:
    """Fitted log10-power vs log10-frequency slope (pink: -1, brown: -2)."""
    freqs, power = signal.welch(x, SR, nperseg=4096)
    band = (freqs >= low) & (freqs <= high)
    return float(np.polyfit(np.log10(freqs[band]), np.log10(power[band]), 1)[0])


@pytest.mark.parametrize("kind", SYNTH_NOISES.names())
def test_noise_has_length_unit_rms_and_is_reproducible(kind):
    a, b = synth_noise(kind, 12345, SR, _rng(1)), synth_noise(kind, 12345, SR, _rng(1))
    assert a.dtype == np.float32 and a.shape == (12345,) and np.all(np.isfinite(a))
    assert np.sqrt(np.mean(a.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, synth_noise(kind, 12345, SR, _rng(2)))


@pytest.mark.parametrize("kind, slope", [("white", 0.0), ("pink", -1.0), ("brown", -2.0)])
def test_colored_noise_spectral_slopes(kind, slope):
    assert _slope(synth_noise(kind, 4 * SR, SR, _rng(3))) == pytest.approx(slope, abs=0.2)


def test_hum_is_low_frequency_and_clicks_are_impulsive():
    freqs, power = signal.welch(synth_noise("hum", 2 * SR, SR, _rng(4)), SR, nperseg=4096)
    assert power[freqs < 800].sum() / power.sum() > 0.9
    clicks = synth_noise("clicks", 2 * SR, SR, _rng(5))
    assert np.max(np.abs(clicks)) / np.sqrt(np.mean(clicks ** 2)) > 6  # crest factor of impulses


@pytest.mark.parametrize("kind", SYNTH_EVENTS.names())
def test_events_decay(kind):
    event = synth_event(kind, SR // 2, SR, _rng(6))
    head, tail = event[: SR // 10], event[-SR // 10:]
    assert np.mean(head ** 2) > 10 * np.mean(tail ** 2)


def _frame_rms(x: np.ndarray, frame: int = 160) -> np.ndarray:
    frames = x[: len(x) // frame * frame].reshape(-1, frame)
    return np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))


def test_talkers_span_low_to_high_voices():
    talkers = make_talkers(8, _rng(0))
    f0 = sorted(t.f0_hz for t in talkers)
    assert f0[0] < 120 and f0[-1] > 190 and len({t.name for t in talkers}) == 8


def test_speech_has_pauses_pitch_near_the_talker_and_speech_level():
    talker = make_talkers(8, _rng(0))[0]
    x = synth_speech(talker, 3 * SR, SR, _rng(7))
    assert x.shape == (3 * SR,) and x.dtype == np.float32
    rms = _frame_rms(x)
    assert np.mean(rms < 1e-3 * rms.max()) > 0.1  # syllable gaps and word pauses
    assert -32 < 20 * np.log10(np.sqrt(np.mean(x ** 2))) < -20
    loud = int(np.argmax(rms)) * 160
    frame = x[loud:loud + 1024].astype(np.float64)
    ac = np.correlate(frame, frame, "full")[len(frame) - 1:]
    lag_min, lag_max = SR // 400, SR // 60
    f0 = SR / (lag_min + int(np.argmax(ac[lag_min:lag_max])))
    assert talker.f0_hz * 0.7 < f0 < talker.f0_hz * 1.4


def test_pesq_is_meaningful_on_synthetic_speech():
    talker = make_talkers(8, _rng(0))[3]
    clean = synth_speech(talker, 3 * SR, SR, _rng(8))
    assert pesq(SR, clean, clean, "wb") > 4.0
    scores = [pesq(SR, clean, mix_at_snr(clean, synth_noise("white", 3 * SR, SR, _rng(9)), snr).noisy, "wb")
              for snr in (0.0, 20.0)]
    assert 1.0 <= scores[0] < scores[1] <= 4.65


def test_the_formant_cascade_filters_in_place_exactly_as_sosfilt_and_resonates_at_its_formants(monkeypatch):
    from ncse_cli.data import synth

    rng = _rng(7)
    x = rng.standard_normal(SR // 2)
    blocks = -(-len(x) // int(SR * synth._BLOCK_SECONDS))
    formants = np.array([500.0, 1500.0, 2500.0]) * rng.uniform(0.9, 1.1, (blocks, 3))
    fast, public = synth._formant_filter(x, formants, SR), synth._formant_filter(x, formants, SR, fast=False)
    assert np.array_equal(fast, public)
    talker = make_talkers(1, _rng(3))[0]
    before = synth_speech(talker, SR, SR, _rng(4))
    monkeypatch.setattr(synth, "_sosfilt_kernel", None)  # a SciPy without the kernel: the same utterance
    assert np.array_equal(synth_speech(talker, SR, SR, _rng(4)), before)
    # each section has unit gain at DC and its peak at the block's formant
    for sos, target in zip(synth.formant_sections(formants[:1], SR)[0], formants[0]):
        freqs, response = signal.sosfreqz(sos[None], worN=8192, fs=SR)
        assert abs(response[0]) == pytest.approx(1.0) and abs(freqs[np.argmax(abs(response))] - target) < 30
