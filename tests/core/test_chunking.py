"""Chunked enhancement of long files: windows cover the file with at most two at any sample, the cross-fade is
exact on agreeing windows and leaves no step where windows disagree, a file within one window is enhanced exactly
as a whole, and blocks are written out as they come."""

import math

import numpy as np
import pytest
import soundfile as sf
import torch

from ncse_cli.audio import AudioError, save_audio_blocks
from ncse_cli.chunking import (ChunkingConfig, ChunkingError, Window, bind_window_enhancer, enhance_chunked,
                               file_peak, iter_enhanced_blocks, plan_windows)
from ncse_cli.enhancement import enhance_waveforms
from ncse_cli.sampling.pc import PCConfig
from tests.dummies import tiny_model
from tests.dummies import noise, speech


def noisy_speech(seconds: float, seed: int = 0) -> np.ndarray:
    return (speech(seconds, seed=seed) + noise(seconds, seed=seed + 1, level=0.05)).astype(np.float32)


@pytest.fixture(scope="module")
def model():
    """A tiny model whose zero-initialised layers are drawn small and random, so its output depends on its input.

    It runs on one torch thread: its layers are too small to share, and two threads on a busy machine spin-wait
    for each other (these tests took 15 times longer so).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = tiny_model(seed=3)
    with torch.no_grad():
        for param in model.parameters():
            if not param.any():
                param.normal_(0.0, 0.05)
    yield model
    torch.set_num_threads(threads)


@pytest.mark.parametrize("length", [1, 999, 1000, 1001, 1700, 1799, 1800, 1801, 2550, 2601, 2650, 10_000, 10_321])
def test_windows_cover_the_file_with_at_most_two_per_sample(length):
    window, overlap = 1000, 200
    windows = plan_windows(length, window, overlap)
    coverage = np.zeros(length, dtype=int)
    for w in windows:
        coverage[w.start:w.stop] += 1
    assert coverage.min() == 1 and coverage.max() <= 2
    assert windows[0].start == 0 and windows[-1].stop == length
    assert all(a.start < b.start and b.start < a.stop for a, b in zip(windows, windows[1:]))  # consecutive overlap
    assert all(b.start - a.start >= window - overlap or b is windows[-1] for a, b in zip(windows, windows[1:]))
    if length > window:
        assert all(w.stop - w.start >= window for w in windows)
        assert all(w.stop - w.start < window + overlap for w in windows)
        assert all(a.stop - b.start >= overlap for a, b in zip(windows, windows[1:]))


def test_window_plans_on_known_lengths():
    # the last window is shifted back to end at the file's end, overlapping its predecessor by more
    assert plan_windows(2500, 1000, 200) == [Window(0, 1000), Window(800, 1800), Window(1500, 2500)]
    # a last full window would reach into the one before its predecessor: that one is stretched instead
    assert plan_windows(2650, 1000, 200) == [Window(0, 1000), Window(800, 1800), Window(1600, 2650)]
    assert plan_windows(1850, 1000, 200) == [Window(0, 1000), Window(800, 1850)]
    assert plan_windows(1100, 1000, 200) == [Window(0, 1000), Window(100, 1100)]


def test_agreeing_windows_give_back_the_input_exactly():
    signal = noisy_speech(3.0)
    windows = plan_windows(len(signal), 8000, 2000)
    progress = []
    blocks = list(iter_enhanced_blocks(signal, lambda w: w.clone(), windows, lambda d, t: progress.append((d, t))))
    assert sum(map(len, blocks)) == len(signal)
    np.testing.assert_allclose(np.concatenate(blocks), signal, rtol=0, atol=1e-6)
    assert progress == [(i + 1, len(windows)) for i in range(len(windows))]


class RecordedSource:
    """A signal that is not an array: it hands out slices and records which were asked for."""

    def __init__(self, samples: np.ndarray) -> None:
        self.samples, self.asked = samples, []

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: slice) -> np.ndarray:
        self.asked.append((index.start, index.stop))
        return self.samples[index].copy()


def test_a_signal_not_in_memory_is_read_one_window_at_a_time():
    signal = noisy_speech(3.0)
    source = RecordedSource(signal)
    windows = plan_windows(len(signal), 8000, 2000)
    blocks = list(iter_enhanced_blocks(source, lambda w: 2 * w, windows))
    assert source.asked == [(w.start, w.stop) for w in windows]  # nothing read twice, nothing read whole
    np.testing.assert_allclose(np.concatenate(blocks), 2 * signal, rtol=0, atol=1e-6)


def test_the_seam_between_disagreeing_windows_has_no_step():
    """Each window comes back with its own gain and offset, as independent sampler runs differ: the output moves
    from one to the next no faster than the raised-cosine ramp allows (pi / 2 per overlap), never in a jump."""
    signal = noisy_speech(4.0)
    windows = plan_windows(len(signal), 16000, 4000)
    calls = []

    def disagree(window: torch.Tensor) -> torch.Tensor:
        calls.append(len(calls))
        return (1 + 0.2 * len(calls)) * window + 0.3 * (-1) ** len(calls)

    out = np.concatenate(list(iter_enhanced_blocks(signal, disagree, windows)))
    hard = np.concatenate([(1 + 0.2 * (k + 1)) * signal[w.start:(windows[k + 1].start if k + 1 < len(windows)
                                                                  else w.stop)] + 0.3 * (-1) ** (k + 1)
                           for k, w in enumerate(windows)])
    jump_without_fade = np.abs(np.diff(hard)).max()
    assert jump_without_fade > 0.5  # cutting at the window edges would leave a step of 0.6
    versions = [(1 + 0.2 * k) * signal + 0.3 * (-1) ** k for k in range(1, len(windows) + 1)]
    steepest_window = max(np.abs(np.diff(v)).max() for v in versions)
    ramp_slope = max(np.abs(a - b).max() for a, b in zip(versions, versions[1:])) * math.pi / 2 / 4000
    assert np.abs(np.diff(out)).max() <= steepest_window + ramp_slope + 1e-5
    assert len(calls) == len(windows) == 5


def test_a_file_within_one_window_is_enhanced_exactly_as_a_whole(model):
    noisy = torch.from_numpy(noisy_speech(0.5, seed=5))
    ref = torch.from_numpy(noise(0.25, seed=9, level=0.05))
    sampler = PCConfig(steps=1)
    whole = enhance_waveforms(model, noisy, ref, w=2.0, sampler=sampler, generator=torch.Generator().manual_seed(7))
    blocks = list(enhance_chunked(model, noisy, ref, chunking=ChunkingConfig(0.5, 0.1), w=2.0,
                                  sampler=sampler, generator=torch.Generator().manual_seed(7)))
    assert len(blocks) == 1
    np.testing.assert_array_equal(blocks[0], whole.waveform.numpy())


def test_windows_of_a_long_file_share_its_scale_and_reference(model):
    """A window enhanced by the chunker equals ``enhance`` of that window with the file's peak as its scale."""
    noisy = torch.from_numpy(noisy_speech(1.5, seed=6))
    noisy[12000:] *= 0.1  # a quiet second half: its windows must not be blown up to full scale
    ref = torch.from_numpy(noise(0.25, seed=9, level=0.05))
    sampler = PCConfig(steps=1)
    window_fn = bind_window_enhancer(model, file_peak(noisy), ref, sampler=sampler,
                                     generator=torch.Generator().manual_seed(1))
    quiet = noisy[16000:24000]
    peak = noisy.abs().max().reshape(1, 1)
    alone = enhance_waveforms(model, quiet, ref, sampler=sampler, generator=torch.Generator().manual_seed(1), scale=peak)
    bound = window_fn(quiet).numpy()
    np.testing.assert_allclose(bound, alone.waveform.numpy(), rtol=0, atol=1e-6)
    own_peak = enhance_waveforms(model, quiet, ref, sampler=sampler, generator=torch.Generator().manual_seed(1))
    assert np.abs(bound - own_peak.waveform.numpy()).max() > 0.1  # the scale matters, and it is the file's
    blocks = list(enhance_chunked(model, noisy, ref, chunking=ChunkingConfig(0.5, 0.125), sampler=sampler,
                                  generator=torch.Generator().manual_seed(1)))
    out = np.concatenate(blocks)
    assert len(blocks) == len(plan_windows(len(noisy), 8000, 2000)) == 4 and out.shape == (len(noisy),)
    assert np.all(np.isfinite(out))


def test_blocks_are_written_as_they_come_and_a_failure_leaves_no_file(tmp_path):
    signal = noisy_speech(1.0)
    path = tmp_path / "out.wav"
    assert save_audio_blocks(path, (signal[i:i + 3000] for i in range(0, len(signal), 3000)), 16000) == 16000
    data, rate = sf.read(path, dtype="float32")
    assert rate == 16000 and np.array_equal(data, signal)

    def failing():
        yield signal[:100]
        raise RuntimeError("window failed")

    with pytest.raises(RuntimeError):
        save_audio_blocks(tmp_path / "broken.wav", failing(), 16000)
    with pytest.raises(AudioError, match="NaN or infinite"):
        save_audio_blocks(tmp_path / "nan.wav", [np.array([0.0, np.nan], np.float32)], 16000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]


def test_bad_window_settings_are_named():
    with pytest.raises(ChunkingError, match="window must be positive"):
        ChunkingConfig(window_seconds=0)
    with pytest.raises(ChunkingError, match=r"overlap must lie between 0 and half the window \(2 s\)"):
        ChunkingConfig(window_seconds=4, overlap_seconds=2.5)
