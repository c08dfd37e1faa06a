"""Long files through the enhancement use case: enhanced window by window with a progress bar per file, read,
resampled and written back block by block without seams, and a file within one window exactly as whole."""

import dataclasses
import math

import numpy as np
import pytest

from ncse_cli import chunking
from ncse_cli.audio import resample_audio
from ncse_cli.enhancement import Enhancement
from ncse_cli.inference.enhancer import EnhanceReport, Enhancer
from ncse_cli.inference.jobs import EnhanceJob, resolve_inputs
from ncse_cli.inference.settings import EnhanceError, EnhanceSettings
from tests.dummies import ProgressLog, read_wav, speech_with_pauses, write_wav

FAST = EnhanceSettings(steps=1, precision="fp32")  # bf16 would round the ~1e-7 differences of resampling up
#: 2.6 s: speech, a pause a reference can come from, speech.
LAYOUT = [("speech", 1.0), ("pause", 0.6), ("speech", 1.0)]


@pytest.fixture(scope="module")
def enhancer(model_dir):
    return Enhancer.load(model_dir, FAST)


@pytest.mark.parametrize("rate", [16000, 48000])
def test_a_file_within_one_window_comes_out_of_the_windowed_path_exactly_as_whole(enhancer, tmp_path, rate):
    """The windowed path (file read in slices, resampled slice by slice, peak and reference found block-wise,
    output resampled block by block) gives what the whole-file path gives, reference found in the pause included."""
    recording, _ = speech_with_pauses(LAYOUT, rate, noise_level=0.02)
    noisy = write_wav(tmp_path / "talk.wav", recording, rate)
    whole = enhancer.run(resolve_inputs(noisy, tmp_path / "whole"))
    assert (whole.written, whole.windowed, whole.auto_references) == (1, 0, 1)
    job = EnhanceJob("talk", noisy, tmp_path / "windowed" / "talk.wav")
    report = EnhanceReport(enhancer.name, "file", tmp_path / "windowed")
    enhancer._enhance_long(job, report, auto=True, made=enhancer.inputs_log(job.out.parent), progress=None)
    assert (report.written, report.windowed, report.auto_references) == (1, 1, 1)
    out, expected = read_wav(job.out), read_wav(tmp_path / "whole" / "talk.wav")
    assert out.shape == expected.shape == recording.shape
    np.testing.assert_allclose(out, expected, rtol=0, atol=2e-5 * np.abs(expected).max())
    assert (tmp_path / "windowed" / "talk.noise-ref.json").read_text() == \
        (tmp_path / "whole" / "talk.noise-ref.json").read_text()


def disagreeing_windows(monkeypatch):
    """Make every window come back as its input with its own gain and offset, as independent sampler runs of a
    real model differ; returns the list of gains and offsets used, window by window."""
    used = []

    def enhance(model, window, **kwargs):
        gain, offset = 1 + 0.2 * (len(used) + 1), 0.3 * (-1) ** (len(used) + 1)
        used.append((gain, offset))
        return Enhancement(gain * window + offset, 1, 1, "plain")

    monkeypatch.setattr(chunking, "enhance_waveforms", enhance)
    return used


def test_the_seam_between_windows_of_a_long_file_has_no_step(model_dir, tmp_path, monkeypatch):
    recording, _ = speech_with_pauses(LAYOUT, 16000, noise_level=0.02)
    noisy = write_wav(tmp_path / "long.wav", recording, 16000)
    used = disagreeing_windows(monkeypatch)
    settings = dataclasses.replace(FAST, window=0.8, overlap=0.2)
    report = Enhancer.load(model_dir, settings).run(resolve_inputs(noisy, tmp_path / "out", "none"))
    out = read_wav(tmp_path / "out" / "long.wav")
    assert report.windowed == 1 and len(used) == 4 and out.shape == recording.shape
    versions = [gain * recording + offset for gain, offset in used]
    steepest = max(np.abs(np.diff(v)).max() for v in versions)
    ramp = max(np.abs(a - b).max() for a, b in zip(versions, versions[1:])) * math.pi / 2 / (0.2 * 16000)
    assert np.abs(np.diff(out)).max() <= steepest + ramp + 1e-5  # cutting at window edges would jump by 0.6
    assert np.abs(np.diff(out)).max() < 0.5


def test_reading_and_writing_a_long_file_block_by_block_leaves_no_seam(model_dir, tmp_path, monkeypatch):
    """With windows that give back their input, a 48 kHz file comes out as the whole file resampled to 16 kHz and
    back: the block-wise resampling in and out is exact."""
    recording, _ = speech_with_pauses(LAYOUT, 48000, noise_level=0.02)
    noisy = write_wav(tmp_path / "long.wav", recording, 48000)
    monkeypatch.setattr(chunking, "enhance_waveforms", lambda model, window, **kw: Enhancement(window, 1, 1, "plain"))
    settings = dataclasses.replace(FAST, window=0.7, overlap=0.1)
    Enhancer.load(model_dir, settings).run(resolve_inputs(noisy, tmp_path / "out", "none"))
    there_and_back = resample_audio(resample_audio(recording, 48000, 16000), 16000, 48000)[:len(recording)]
    np.testing.assert_allclose(read_wav(tmp_path / "out" / "long.wav"), there_and_back, rtol=0, atol=1e-5)


def test_a_long_file_gets_its_own_progress_bar_and_a_short_one_none(model_dir, tmp_path):
    recording, _ = speech_with_pauses(LAYOUT, 16000, noise_level=0.02)
    write_wav(tmp_path / "in" / "long.wav", recording, 16000)
    write_wav(tmp_path / "in" / "short.wav", recording[:8000], 16000)
    progress = ProgressLog()
    settings = dataclasses.replace(FAST, window=1.0, overlap=0.25)
    report = Enhancer.load(model_dir, settings).run(resolve_inputs(tmp_path / "in", tmp_path / "out"), progress)
    assert (report.written, report.windowed) == (2, 1)
    assert progress.tasks["enhance long"] == [(1, 3, None), (2, 3, None), (3, 3, None)]
    assert "enhance short" not in progress.tasks and progress.tasks["enhance in"][-1][:2] == (2, 2)
    for name in ("long", "short"):
        out = read_wav(tmp_path / "out" / f"{name}.wav")
        assert len(out) == (len(recording) if name == "long" else 8000) and np.all(np.isfinite(out))


def test_window_settings_come_from_the_training_crop_and_are_checked(model_dir):
    enhancer = Enhancer.load(model_dir, FAST)  # a model directory without a train section: SGMSE+'s 256 frames
    assert (enhancer.chunking.window_seconds, enhancer.chunking.overlap_seconds) == (4.096, 0.512)
    assert {k: enhancer.record()[k] for k in ("window", "overlap")} == {"window": 4.096, "overlap": 0.512}
    assert EnhanceSettings(window=2.0).windows(2.048) == (2.0, 0.25)
    assert EnhanceSettings().windows(0.512) == (4.0, 0.5)  # short crops: at least 4 s
    with pytest.raises(EnhanceError, match="more than half the 2 s window"):
        EnhanceSettings(window=2.0, overlap=1.5).windows(1.0)
    with pytest.raises(EnhanceError, match="--window must be a positive"):
        EnhanceSettings(window=0.0)
