"""Automatic noise references: cut from the longest pause or joined from several, exactly as long as trained, never
within the guard of detected speech, recorded by stretch; without pauses, no reference and the reason."""

import json

import numpy as np
import pytest

from ncse_cli.auto_reference import AutoReferenceConfig, AutoReferenceError, auto_reference
from ncse_cli.data.mixing import crossfade_concat
from ncse_cli.vad import Stretch, VoiceActivity
from tests.core.test_vad import LAYOUT, loud_samples
from tests.dummies import noise, speech, speech_with_pauses

RATE = 1000  # one sample per millisecond keeps the hand-made layouts readable


def ramp(length: int) -> np.ndarray:
    """A recording whose samples are their own index, so a reference shows where it was cut."""
    return np.arange(length, dtype=np.float32)


def activity(*speech: tuple[int, int], length: int = 5000) -> VoiceActivity:
    return VoiceActivity(tuple(Stretch(a, b) for a, b in speech), length, RATE, "energy")


def test_a_long_enough_pause_gives_a_centred_cut_of_it():
    # pauses 0-1000 (at the start: guarded at its end only) and 1500-2600 (guarded at both ends)
    found = auto_reference(ramp(4000), RATE, 0.5, AutoReferenceConfig(guard_seconds=0.1),
                           activity((1000, 1500), (2600, 4000), length=4000))
    assert found.found and found.detector == "energy"
    # usable: 0-900 (900) and 1600-2500 (900): the earlier of equal lengths, centred
    assert found.stretches == ((0.2, 0.7),)
    np.testing.assert_array_equal(found.samples, np.arange(200, 700, dtype=np.float32))
    assert found.column() == "0.200-0.700"


def test_short_pauses_are_joined_with_crossfades_to_the_trained_length():
    cfg = AutoReferenceConfig(guard_seconds=0.05, crossfade_seconds=0.01, min_piece_seconds=0.05)
    layout = activity((0, 1000), (1300, 2000), (2200, 3000), (3150, 4000), (4120, 5000))
    # usable pauses after the guard: 1050-1250 (200), 2050-2150 (100), 3050-3100 (50), 4050-4070 (20: too short)
    found = auto_reference(ramp(5000), RATE, 0.28, cfg, layout)
    # longest first: 200 + 100 - 10 (one join) = 290 >= 280, the later piece shortened by the 10 extra
    assert found.stretches == ((1.05, 1.25), (2.05, 2.14))
    expected = crossfade_concat([ramp(5000)[1050:1250], ramp(5000)[2050:2140]], 10)
    np.testing.assert_array_equal(found.samples, expected)
    assert len(found.samples) == 280
    assert json.loads(json.dumps(found.to_dict())) == {"source": "auto", "detector": "energy",
                                                       "stretches": [[1.05, 1.25], [2.05, 2.14]]}


def test_without_enough_pause_there_is_no_reference_and_the_reason_says_why():
    found = auto_reference(ramp(5000), RATE, 0.5, AutoReferenceConfig(guard_seconds=0.1),
                           activity((0, 2000), (2400, 5000)))
    assert not found.found and found.samples is None and found.stretches == () and found.column() == ""
    assert found.reason == ("no pause long enough for a 0.5 s noise reference: 0.20 s of non-speech in 1 usable "
                            "pause (at least 0.05 s, 0.1 s away from speech)")
    assert found.to_dict()["reason"] == found.reason


def test_a_recording_of_continuous_speech_falls_back_with_a_message():
    recording = (speech(6.0, seed=3) + noise(6.0, seed=4, level=0.01)).astype(np.float32)
    found = auto_reference(recording, 16000, 0.25)
    assert found.detector == "silero" and not found.found
    assert found.reason.startswith("no pause long enough for a 0.25 s noise reference")


def test_references_never_come_within_the_guard_of_detected_speech():
    for seed in range(300):  # random speech layouts, settings and lengths
        rng = np.random.default_rng(seed)
        length = int(rng.integers(500, 6000))
        edges = np.sort(rng.choice(length, size=2 * int(rng.integers(0, 6)), replace=False))
        layout = activity(*zip(edges[::2], edges[1::2]), length=length)
        cfg = AutoReferenceConfig(guard_seconds=float(rng.uniform(0, 0.2)),
                                  crossfade_seconds=float(rng.uniform(0, 0.02)),
                                  min_piece_seconds=float(rng.uniform(0, 0.1)))
        ref_seconds = float(rng.uniform(0.05, 1.5))
        found = auto_reference(ramp(length), RATE, ref_seconds, cfg, layout)
        guard = round(cfg.guard_seconds * RATE)
        for start, end in found.stretches:
            a, b = round(start * RATE), round(end * RATE)
            assert 0 <= a < b <= length
            assert all(b <= s.start - guard or a >= s.end + guard for s in layout.speech), (seed, a, b)
        if found.found:
            assert len(found.samples) == round(ref_seconds * RATE), seed
            assert list(found.stretches) == sorted(found.stretches)


def test_a_real_recording_gives_a_reference_from_its_pauses_free_of_speech():
    recording, clean = speech_with_pauses(LAYOUT, 16000)
    found = auto_reference(recording, 16000, 1.5)  # longer than any pause: joined from several
    assert found.found and found.detector == "silero" and len(found.stretches) >= 2
    assert len(found.samples) == 24000
    loud = loud_samples(clean, 16000, level_db=-50.0)
    for start, end in found.stretches:
        a, b = round(start * 16000), round(end * 16000)
        assert not np.any((loud + 160 > a) & (loud < b)), (start, end)  # no frame of speech inside


def test_bad_settings_are_named():
    with pytest.raises(AutoReferenceError, match="guard_seconds must not be negative"):
        AutoReferenceConfig(guard_seconds=-1)
    with pytest.raises(AutoReferenceError, match="reference length must be positive"):
        auto_reference(ramp(100), RATE, 0.0, activity(length=100))
