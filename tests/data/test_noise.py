"""Noise clips: reading, trimming, looping, and cutting a mixture part and a disjoint reference."""

from __future__ import annotations

import numpy as np
import pytest

from ncse_cli.audio import load_audio
from ncse_cli.data.noise import (NoiseBank, NoiseClip, SkipItem, disjoint_segments, load_clip, loop_to_length,
                                 noise_pair, read_window, synthetic_clip, trim_silence)
from tests.dummies import noise, write_wav

SR = 16000


def test_disjoint_segments_never_overlap_and_fit():
    for seed in range(300):
        rng = np.random.default_rng(seed)
        total, first, second = 1000, int(rng.integers(1, 600)), int(rng.integers(1, 400))
        a, b = disjoint_segments(total, first, second, rng)
        assert 0 <= a and a + first <= total and 0 <= b and b + second <= total
        assert a + first <= b or b + second <= a
    with pytest.raises(ValueError):
        disjoint_segments(10, 6, 5, np.random.default_rng(0))


def test_trim_silence_and_loop():
    x = np.concatenate([np.zeros(100), noise(0.1, SR), np.zeros(300)]).astype(np.float32)
    assert len(trim_silence(x)) == pytest.approx(1600, abs=2)
    looped = loop_to_length(noise(0.3, SR), 3 * SR, SR, np.random.default_rng(0))
    assert looped.shape == (3 * SR,) and np.all(np.isfinite(looped))


def test_read_window_reads_only_the_asked_part(tmp_path):
    audio = noise(3.0, 48000, seed=1)
    path = write_wav(tmp_path / "long.wav", audio, 48000)
    window = read_window(path, SR, 1.0, 0.5)
    whole = load_audio(path, SR, resample=True).samples
    assert window.shape == (SR // 2,)
    middle = slice(200, SR // 2 - 200)  # away from the window's resampling edges
    assert np.allclose(window[middle], whole[SR:SR + SR // 2][middle], atol=1e-3)


def test_noise_pair_from_one_clip_is_disjoint_and_matches_the_clip(tmp_path):
    audio = noise(2.0, SR, seed=2)
    clip = NoiseClip(str(write_wav(tmp_path / "a.wav", audio, SR)), "test", "pink")
    pair = noise_pair(clip, None, SR, SR // 4, SR, np.random.default_rng(3))
    assert np.array_equal(pair.mix, audio[pair.mix_offset:pair.mix_offset + SR])
    assert np.array_equal(pair.ref, audio[pair.ref_offset:pair.ref_offset + SR // 4])
    assert pair.ref_clip == clip and not pair.looped
    assert pair.mix_offset + SR <= pair.ref_offset or pair.ref_offset + SR // 4 <= pair.mix_offset


def test_short_clip_takes_its_reference_from_another_clip_of_the_category(tmp_path):
    short = NoiseClip(str(write_wav(tmp_path / "s.wav", noise(0.5, SR, seed=4), SR)), "test", "dog")
    other = NoiseClip(str(write_wav(tmp_path / "o.wav", noise(1.0, SR, seed=5), SR)), "test", "dog")
    pair = noise_pair(short, other, SR, SR // 4, SR, np.random.default_rng(6))
    assert pair.ref_clip == other and pair.looped and pair.mix.shape == (SR,)
    with pytest.raises(SkipItem, match="too short"):
        noise_pair(short, None, SR, SR // 4, SR, np.random.default_rng(6))


def test_silent_clip_is_skipped(tmp_path):
    clip = NoiseClip(str(write_wav(tmp_path / "z.wav", np.zeros(SR, np.float32), SR)), "test", "rain")
    with pytest.raises(SkipItem, match="silent"):
        load_clip(clip, SR, np.random.default_rng(0), SR)


def test_bank_draws_and_alternatives():
    clips = [NoiseClip(f"/x/{c}{i}.wav", "t", c) for c in "ab" for i in range(2)] + [NoiseClip("/x/c.wav", "t", "c")]
    bank = NoiseBank(clips)
    rng = np.random.default_rng(0)
    assert bank.categories == ["a", "b", "c"] and len(bank) == 5
    assert bank.draw(rng, "b").category == "b"
    first = bank.clips("a")[0]
    assert bank.alternative(first, rng) == bank.clips("a")[1]
    assert bank.alternative(NoiseClip("/x/c.wav", "t", "c"), rng) is None
    assert bank.alternative(synthetic_clip("white"), rng) == synthetic_clip("white")
