"""DNSMOS P.835: the official procedure (equal to speechmos's reference implementation), offline from the package's
model, at any rate, on signals beyond [-1, 1]; rows without a clean file are scored by it alone."""

import importlib
import math
import socket
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ncse_cli.evaluation.scoring import ScoreJob, read_scores, score_job, scores_frame, write_scores
from ncse_cli.metrics import METRICS, MetricFailure, dnsmos, score_utterance
from ncse_cli.metrics.dnsmos import segments
from ncse_cli.metrics.scoring import NO_REFERENCE, metric_notes
from tests.dummies import noise, speech, write_wav

DNSMOS_METRICS = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")
dnsmos_module = importlib.import_module("ncse_cli.metrics.dnsmos")  # the package exports the function by that name


@pytest.fixture(scope="module")
def noisy():
    """4.6 s: repeated once to 9.2 s, one DNSMOS segment."""
    return (speech(4.6, seed=1) + noise(4.6, seed=2, level=0.05)).astype(np.float32)


def test_dnsmos_runs_offline_and_equals_the_reference_implementation(noisy, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    dnsmos_module._session.cache_clear()
    dnsmos_module._LAST.clear()
    ours = dnsmos(noisy, 16000)
    from speechmos import dnsmos as reference  # the package's own implementation of the official script

    models = Path(reference.__file__).parent / "dnsmos_models"
    theirs_model = reference.DNSMOS(str(models / "sig_bak_ovr.onnx"), str(models / "model_v8.onnx"))
    # the P.808 score it computes besides is not compared: skip its mel spectrogram (slow on first use)
    theirs_model.audio_melspec = lambda audio: np.zeros((1, 900, 120), np.float32)
    theirs_model.p808_onnx_sess = SimpleNamespace(run=lambda outputs, feeds: [np.zeros((1, 1))])
    theirs = theirs_model(noisy, 16000, False)
    assert ours == pytest.approx({"sig": theirs["sig_mos"], "bak": theirs["bak_mos"], "ovrl": theirs["ovrl_mos"]},
                                 abs=1e-5)
    assert all(1.0 <= v <= 5.0 for v in ours.values())


def test_segments_follow_the_official_script():
    rate = 16000
    assert np.stack(list(segments(np.ones(3 * rate)))).shape == (3, 144160)  # repeated to 12 s: at 0, 1, 2 s
    # 40 s: 31 hops of 1 s, of which the official rounding skips 7..23 (one sample short)
    cut = np.stack(list(segments(np.arange(40 * rate, dtype=np.float64))))
    assert cut.shape == (31 - 17, 144160)
    assert [int(row[0]) // rate for row in cut] == [0, 1, 2, 3, 4, 5, 6, 24, 25, 26, 27, 28, 29, 30]


def test_dnsmos_at_other_rates_and_beyond_full_scale(noisy):
    from ncse_cli.audio import resample_audio

    at16 = dnsmos(noisy, 16000)
    at48 = dnsmos(resample_audio(noisy, 16000, 48000), 48000)
    assert at48 == pytest.approx(at16, abs=0.05)  # resampled back to 16 kHz first
    assert "resampled from 48000 Hz" in metric_notes(48000, DNSMOS_METRICS)["dnsmos_ovrl"]
    assert "resampled" not in metric_notes(16000, DNSMOS_METRICS)["dnsmos_ovrl"]
    loud = dnsmos(3.0 * noisy, 16000)  # speechmos refuses samples beyond [-1, 1]; the official script scores them
    assert all(math.isfinite(v) for v in loud.values()) and loud != at16
    with pytest.raises(MetricFailure, match="empty signal"):
        dnsmos(np.zeros(0, np.float32), 16000)


def test_rows_without_a_clean_file_are_scored_by_the_non_intrusive_metrics(noisy, tmp_path):
    assert [METRICS.get(m).intrusive for m in ("pesq", "estoi", "si_sdr", *DNSMOS_METRICS)] == [True] * 3 + [False] * 3
    metrics = ("pesq", "estoi", "si_sdr", *DNSMOS_METRICS)
    estimate = write_wav(tmp_path / "est.wav", noisy, 16000)
    clean = write_wav(tmp_path / "clean.wav", speech(4.6, seed=1), 16000)
    without = score_job(ScoreJob("field", estimate, None), metrics)
    assert all(math.isnan(without.values[m]) and without.errors[m] == NO_REFERENCE for m in ("pesq", "estoi", "si_sdr"))
    assert [without.values[m] for m in DNSMOS_METRICS] == pytest.approx(list(dnsmos(noisy, 16000).values()), abs=1e-6)
    with_clean = score_job(ScoreJob("bench", estimate, clean), metrics)
    assert all(math.isfinite(v) for v in with_clean.values.values()) and not with_clean.errors
    assert [with_clean.values[m] for m in DNSMOS_METRICS] == [without.values[m] for m in DNSMOS_METRICS]
    path = tmp_path / "scores.csv"
    write_scores(path, scores_frame(["field", "bench"], [without, with_clean], metrics=metrics))
    back = read_scores(path)
    assert back["dnsmos_ovrl"].dtype == float and back["pesq"].isna().tolist() == [True, False]
    assert back.loc[0, "errors"].startswith("pesq: no clean reference")
    assert score_utterance(noisy, None, 16000, ("si_sdr",)).errors == {"si_sdr": NO_REFERENCE}


def test_background_noise_alone_rates_worse_than_a_clean_talker():
    talker = speech(4.6, seed=3)
    white = noise(4.6, seed=4, kind="white", level=float(np.sqrt(np.mean(talker ** 2))))
    clean, hiss = dnsmos(talker, 16000), dnsmos(white, 16000)
    assert hiss["bak"] < clean["bak"] - 1.0 and hiss["ovrl"] < clean["ovrl"]


def test_identical_segments_of_a_repeated_clip_are_rated_once(monkeypatch):
    """A 1 s clip repeats to 16 s, whose 7 segments are all the same: one network run, the official scores."""
    clip = (speech(1.0, seed=5) + noise(1.0, seed=6, level=0.05)).astype(np.float32)
    runs = []
    session = dnsmos_module._session()
    monkeypatch.setattr(dnsmos_module, "_session", lambda: type("Counting", (), {
        "run": staticmethod(lambda out, feeds: runs.append(1) or session.run(out, feeds))})())
    dnsmos_module._LAST.clear()
    ours = dnsmos(clip, 16000)
    parts = list(segments(clip))
    assert len(parts) == 7 and len(runs) == 1 and all(np.array_equal(part, parts[0]) for part in parts)
    raw = session.run(None, {"input_1": parts[0][None]})[0]  # the official mean over 7 equal segments: one run's
    official = {name: float(np.mean(np.poly1d(dnsmos_module.POLYFIT[name])(raw[:, i])))
                for i, name in enumerate(("sig", "bak", "ovrl"))}
    assert ours == pytest.approx(official, abs=1e-6)
