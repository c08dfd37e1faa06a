"""Audio never held whole: slices of a resampled signal and block-wise resampling equal the whole signal's
resampling at every rate pair, a file is read slice by slice as load_audio reads it, and bad files are named."""

import numpy as np
import pytest

from ncse_cli.audio import AudioError, load_audio, resample_audio
from ncse_cli.audio_stream import (AudioFileSignal, ResampledSignal, fit_blocks, geometry, resample_blocks,
                                   scan_audio, signal_peak)
from ncse_cli.vad import detect_speech, detect_speech_blocks
from tests.dummies import noise, speech_with_pauses, write_wav

RATES = [(48000, 16000), (44100, 16000), (22050, 16000), (16000, 48000), (16000, 44100), (8000, 16000),
         (16000, 16000)]


def signal(rate: int, seconds: float = 1.3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(int(seconds * rate)).astype(np.float32)


@pytest.mark.parametrize("orig,new", RATES)
def test_any_slice_of_a_resampled_signal_equals_that_slice_of_the_whole(orig, new):
    x = signal(orig)
    whole = resample_audio(x, orig, new)
    view = ResampledSignal(x, orig, new)
    assert len(view) == len(whole)
    for start, stop in [(0, 1), (0, len(whole)), (3, 4000), (len(whole) - 7, len(whole)), (1234, 1235), (50, 50)]:
        np.testing.assert_allclose(view[start:stop], whole[start:stop], rtol=0, atol=5e-6)


@pytest.mark.parametrize("orig,new", RATES)
def test_blocks_of_any_sizes_resample_to_the_whole_signal_resampled(orig, new):
    x = signal(orig, seed=1)
    rng = np.random.default_rng(2)
    cuts = np.cumsum(rng.integers(1, 3000, size=200))
    blocks = np.split(x, cuts[cuts < len(x)])
    out = list(resample_blocks(iter(blocks), len(x), orig, new))
    np.testing.assert_allclose(np.concatenate(out), resample_audio(x, orig, new), rtol=0, atol=5e-6)
    if orig != new:  # pieces come out as the input arrives, not all at the end
        assert len(out) > len(blocks) // 4
    with pytest.raises(ValueError, match="were announced"):
        list(resample_blocks(blocks[:-1], len(x), orig, new))


def test_the_context_read_around_a_slice_is_bounded_by_the_filter():
    asked = []

    class Recorded:
        def __len__(self):
            return 48000 * 60

        def __getitem__(self, index):
            asked.append((index.start, index.stop))
            return np.zeros(index.stop - index.start, np.float32)

    view = ResampledSignal(Recorded(), 48000, 16000)
    view[160000:224000]  # 4 s at 16 kHz in the middle of a minute
    (start, stop), = asked
    width = geometry(48000, 16000).width
    assert 480000 - 2 * width <= start <= 480000 - width and 672000 + width <= stop <= 672000 + 2 * width


def test_fit_blocks_cuts_or_pads_to_the_length():
    blocks = [np.ones(3, np.float32), np.ones(4, np.float32)]
    assert [len(b) for b in fit_blocks(blocks, 5)] == [3, 2]
    assert np.concatenate(list(fit_blocks(blocks, 9))).tolist() == [1] * 7 + [0, 0]


def test_a_file_reads_slice_by_slice_as_load_audio_reads_it_whole(tmp_path):
    x = noise(1.0, 44100, seed=3) + 0.1
    path = write_wav(tmp_path / "stereo.wav", x, 44100, subtype="PCM_16", channels=2)
    whole = load_audio(path).samples
    with AudioFileSignal(path) as audio:
        assert (len(audio), audio.sample_rate, audio.channels) == (44100, 44100, 2)
        np.testing.assert_array_equal(np.concatenate([audio[a:a + 1000] for a in range(0, 44100, 1000)]), whole)
        assert signal_peak(audio, block=777) == float(np.abs(whole).max())
    assert scan_audio(path) == (44100, 44100)


def test_bad_files_are_named(tmp_path):
    with pytest.raises(AudioError, match="missing.wav: no such audio file"):
        AudioFileSignal(tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="junk.wav: not a readable audio file"):
        scan_audio(tmp_path / "junk.wav")
    bad = np.zeros(1000, np.float32)
    bad[700] = np.nan
    write_wav(tmp_path / "nan.wav", bad, 16000)
    with pytest.raises(AudioError, match="nan.wav: contains NaN or infinite samples"):
        scan_audio(tmp_path / "nan.wav")
    write_wav(tmp_path / "empty.wav", np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="empty.wav: empty"):
        scan_audio(tmp_path / "empty.wav")


def test_speech_is_found_in_blocks_as_in_the_whole_and_joined_across_block_edges():
    layout = [("speech", 1.5), ("pause", 1.0), ("speech", 2.0), ("pause", 0.6), ("speech", 1.2)]
    recording, _ = speech_with_pauses(layout, 16000)
    whole = detect_speech(recording, 16000)
    assert detect_speech_blocks(recording, 16000, block_seconds=60.0) == whole  # within one block: the same
    blocks = detect_speech_blocks(recording, 16000, block_seconds=2.0)  # 4 blocks of 1.58 s, edges in speech
    assert blocks.num_samples == len(recording) and len(blocks.speech) == len(whole.speech) == 3
    for found, expected in zip(blocks.speech, whole.speech):
        assert abs(found.start - expected.start) < 3200 and abs(found.end - expected.end) < 3200
