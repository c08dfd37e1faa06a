"""Voice activity detection: Silero finds the pauses of built recordings at any rate, offline and without
touching torch's threads; the energy detector handles short inputs and errs towards speech; clean-up rules hold."""

import socket

import numpy as np
import pytest
import torch

from ncse_cli import vad
from ncse_cli.vad import Stretch, VadConfig, VadError, VoiceActivity, detect_speech, tidy
from tests.dummies import noise, speech_with_pauses

#: Bursts and pauses of a recording; the pauses of 0.6 s and more are the ones a detector must find.
LAYOUT = [("speech", 1.5), ("pause", 1.0), ("speech", 2.0), ("pause", 0.6), ("speech", 1.2), ("pause", 0.3),
          ("speech", 1.0)]


def designed_pauses(sample_rate: int, min_seconds: float = 0.6) -> list[tuple[int, int]]:
    """The layout's pauses of at least ``min_seconds``, in samples."""
    pauses, position = [], 0
    for kind, seconds in LAYOUT:
        count = int(round(seconds * sample_rate))
        if kind == "pause" and seconds >= min_seconds:
            pauses.append((position, position + count))
        position += count
    return pauses


def loud_samples(clean: np.ndarray, sample_rate: int, level_db: float = -30.0) -> np.ndarray:
    """Indices of 10 ms frames of ``clean`` above ``level_db`` dBFS (surely speech), frame starts."""
    frame = sample_rate // 100
    frames = clean[:len(clean) // frame * frame].reshape(-1, frame)
    energy = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    return np.flatnonzero(energy > level_db) * frame


@pytest.mark.parametrize("sample_rate", [16000, 44100])
def test_silero_finds_the_pauses_between_speech_bursts_at_any_rate(sample_rate):
    recording, clean = speech_with_pauses(LAYOUT, sample_rate)
    activity = detect_speech(recording, sample_rate)
    assert activity.detector == "silero" and activity.num_samples == len(recording)
    pauses = activity.pauses()
    margin = int(0.2 * sample_rate)  # synthetic utterances start and end with up to 0.25 s of silence
    for start, end in designed_pauses(sample_rate):
        assert any(p.start <= start + margin and p.end >= end - margin for p in pauses), (start, end, pauses)
    inside = [any(s.start <= i and i + sample_rate // 100 <= s.end for s in activity.speech)
              for i in loud_samples(clean, sample_rate)]
    assert all(inside)  # every loud frame of speech lies in a detected speech stretch
    assert [p.start for p in pauses] == sorted(p.start for p in pauses)
    assert all(0 <= s.start < s.end <= len(recording) for s in activity.speech)


def test_the_energy_detector_takes_short_inputs_and_finds_their_pauses():
    recording, clean = speech_with_pauses([("pause", 0.15), ("speech", 0.6), ("pause", 0.15)], 16000)
    activity = detect_speech(recording, 16000)
    assert activity.detector == "energy"  # shorter than min_silero_seconds
    assert len(activity.speech) == 1
    loud = loud_samples(clean, 16000)
    assert activity.speech[0].start <= loud.min() and loud.max() + 160 <= activity.speech[0].end
    assert activity.pauses()[0].start == 0 and len(activity.pauses()[0]) >= int(0.15 * 16000)


def test_the_energy_detector_calls_a_recording_without_level_contrast_all_speech():
    steady = noise(0.8, seed=4, level=0.1)
    activity = detect_speech(steady, 16000, VadConfig(detector="energy"))
    assert activity.speech == (Stretch(0, len(steady)),) and activity.pauses() == ()


def test_auto_falls_back_to_energy_when_silero_cannot_load_and_silero_by_name_says_why(monkeypatch):
    def broken():
        raise ImportError("no onnxruntime")

    monkeypatch.setattr(vad, "_silero_model", broken)
    vad.silero_available.cache_clear()
    try:
        recording, _ = speech_with_pauses(LAYOUT, 16000)
        assert detect_speech(recording, 16000).detector == "energy"
        with pytest.raises(VadError, match="Silero VAD cannot run: ImportError: no onnxruntime"):
            detect_speech(recording, 16000, VadConfig(detector="silero"))
    finally:
        vad.silero_available.cache_clear()


def test_silero_loads_offline_from_its_package_and_leaves_torch_threads_alone(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    vad._silero_model.cache_clear()
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        recording, _ = speech_with_pauses(LAYOUT[:3], 16000)
        assert detect_speech(recording, 16000, VadConfig(detector="silero")).speech
        assert torch.get_num_threads() == 2  # importing silero_vad sets one thread; it is restored
    finally:
        torch.set_num_threads(before)


def test_tidy_fills_short_gaps_drops_short_speech_and_pads():
    cfg = VadConfig(min_speech_seconds=0.25, min_silence_seconds=0.1, speech_pad_seconds=0.03)
    rate = 1000  # one sample per millisecond
    raw = [Stretch(100, 300), Stretch(350, 500), Stretch(700, 800), Stretch(1000, 1400), Stretch(1980, 2000)]
    # 300-350 is a gap under 0.1 s: filled; 700-800 is speech under 0.25 s: dropped; padding clips at the end
    assert tidy(raw, 2000, rate, cfg) == [Stretch(70, 530), Stretch(970, 1430)]
    assert tidy([Stretch(0, 400), Stretch(520, 900)], 2000, rate, VadConfig(speech_pad_seconds=0.07)) == [
        Stretch(0, 970)]  # padded stretches that meet are merged


def test_pauses_are_the_complement_of_speech_and_bad_settings_are_named():
    activity = VoiceActivity((Stretch(10, 20), Stretch(30, 40)), 50, 1000, "energy")
    assert activity.pauses() == (Stretch(0, 10), Stretch(20, 30), Stretch(40, 50))
    assert activity.to_dict() == {"detector": "energy", "speech": [[0.01, 0.02], [0.03, 0.04]]}
    with pytest.raises(Exception, match="unknown voice activity detector 'webrtc'; registered: energy, silero"):
        VadConfig(detector="webrtc")
    with pytest.raises(VadError, match="threshold must lie in"):
        VadConfig(threshold=1.5)
