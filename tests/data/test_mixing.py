"""SNR measures and mixing: exact sums, exact SNRs, no clipping, P.56 active level, cross-fades and blends."""

from __future__ import annotations

import numpy as np
import pytest

from ncse_cli.data.mixing import (P56_HANGOVER, MixingError, active_speech_level, crossfade_concat, draw_alpha,
                                  mix_at_snr, mix_two_noises, signal_power, snr_db)
from tests.dummies import noise, sine, speech

SR = 16000


@pytest.mark.parametrize("target", [-5.0, 0.0, 7.5, 20.0])
@pytest.mark.parametrize("method", ["power", "active"])
def test_mix_at_snr_hits_the_target_and_sums_exactly(target, method):
    clean, n = speech(2.0, SR, seed=1), noise(2.0, SR, seed=2, kind="white")
    mix = mix_at_snr(clean, n, target, method=method, sample_rate=SR)
    assert mix.noisy.dtype == np.float32
    assert np.array_equal(mix.noisy, mix.clean + mix.noise)
    assert snr_db(mix.clean, mix.noise, method, SR) == pytest.approx(target, abs=1e-4)


def test_loud_mixtures_are_scaled_not_clipped():
    clean = sine(1.0, SR, amplitude=0.9)
    mix = mix_at_snr(clean, noise(1.0, SR, seed=3, kind="white", level=0.5), -10.0)
    assert mix.gain < 1.0
    assert np.max(np.abs(mix.noisy)) == pytest.approx(0.99, abs=1e-6)
    assert snr_db(mix.clean, mix.noise) == pytest.approx(-10.0, abs=1e-4)
    assert np.allclose(mix.clean, clean * mix.gain, atol=1e-6)
    assert mix.reference_scale == pytest.approx(mix.noise_scale * mix.gain)


def test_active_level_of_a_steady_tone_is_its_power():
    tone = sine(2.0, SR, amplitude=0.1)
    assert 10 * np.log10(active_speech_level(tone, SR) / signal_power(tone)) == pytest.approx(0.0, abs=0.1)


def test_active_level_ignores_silence_up_to_the_p56_hangover():
    tone = sine(3.0, SR, amplitude=0.1)
    tone[len(tone) // 2:] = 0.0
    expected = np.sum(tone.astype(np.float64) ** 2) / (len(tone) // 2 + P56_HANGOVER * SR)
    assert 10 * np.log10(active_speech_level(tone, SR) / expected) == pytest.approx(0.0, abs=0.3)
    assert active_speech_level(tone, SR) > 1.5 * signal_power(tone)


def test_active_snr_exceeds_power_snr_for_speech_with_pauses():
    clean, n = speech(3.0, SR, seed=4), noise(3.0, SR, seed=5, kind="white")
    assert snr_db(clean, n, "active", SR) > snr_db(clean, n, "power") + 0.5


def test_silence_and_bad_input_raise_mixing_errors():
    clean = speech(1.0, SR)
    with pytest.raises(MixingError, match="noise is silent"):
        mix_at_snr(clean, np.zeros_like(clean), 5.0)
    with pytest.raises(MixingError, match="speech is silent"):
        mix_at_snr(np.zeros_like(clean), noise(1.0, SR), 5.0)
    with pytest.raises(MixingError, match="equal length"):
        mix_at_snr(clean, noise(0.5, SR), 5.0)
    with pytest.raises(MixingError, match="sample rate"):
        snr_db(clean, noise(1.0, SR), "active")


def test_crossfade_concat_length_and_constant_power():
    parts = [noise(1.0, SR, seed=s, kind="white") for s in range(3)]
    fade = 1600
    joined = crossfade_concat(parts, fade)
    assert len(joined) == 3 * SR - 2 * fade
    assert np.array_equal(joined[:SR - fade], parts[0][:SR - fade])
    in_fade = joined[SR - fade:SR]
    assert signal_power(in_fade) / signal_power(parts[0]) == pytest.approx(1.0, abs=0.1)


def test_two_noise_blend_uses_alpha_as_a_power_share():
    a, b = noise(1.0, SR, seed=6, kind="white", level=1.0), noise(1.0, SR, seed=7, kind="white", level=0.01)
    blend = mix_two_noises(a, b, 0.7)
    weight_a = np.dot(blend, a) / np.dot(a, a) * np.sqrt(signal_power(a))
    assert weight_a == pytest.approx(0.7, abs=0.02)
    alphas = [draw_alpha(np.random.default_rng(s)) for s in range(200)]
    assert 0.3 <= min(alphas) and max(alphas) <= 0.7
    with pytest.raises(MixingError):
        mix_two_noises(a, b[:100], 0.5)
