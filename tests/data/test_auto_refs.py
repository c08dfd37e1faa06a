"""prepare --ref-source auto: an ``_auto`` manifest beside each one, paired row by row, whose references are those
evaluate --reference auto uses, cut from pauses away from speech; rows without a pause say why."""

import numpy as np
import pytest

from ncse_cli import api
from ncse_cli.audio import load_audio
from ncse_cli.data.manifest import read_manifest, write_manifest
from ncse_cli.data.prepare import PrepareError
from ncse_cli.evaluation.conditions import ReferenceCondition, condition_references
from ncse_cli.vad import detect_speech
from tests.dummies import make_manifest, speech_with_pauses, write_wav


def test_demo_with_auto_references_beside_the_true_ones(tmp_path):
    result = api.prepare("demo", tmp_path, ref_source="auto", num_train=2, num_valid=1, num_test=3, seconds=2.0,
                         ref_seconds=0.25)
    names = [m.name for m in result.manifests]
    assert names == ["train", "valid", "test", "train_auto", "valid_auto", "test_auto"]
    true, auto = read_manifest(tmp_path / "test.jsonl"), read_manifest(tmp_path / "test_auto.jsonl")
    assert [(r.id, r.noisy, r.clean) for r in auto] == [(r.id, r.noisy, r.clean) for r in true]  # paired
    expected = condition_references(true, ReferenceCondition("auto"), 16000)  # what evaluate --reference auto uses
    # two-second demo utterances are speech from end to end: no pause, so every row has the null condition
    assert all(row.noise_ref is None and expected[row.id] is None for row in auto)
    assert all(row.extra["auto_reference_reason"].startswith("no pause long enough") for row in auto)
    assert result.notices["test_auto: no pause long enough for an automatic reference (null condition)"] == 3
    again = api.prepare("demo", tmp_path, ref_source="auto", num_train=2, num_valid=1, num_test=3, seconds=2.0,
                        ref_seconds=0.25)
    assert [m.written for m in again.manifests] == [0] * 6  # a re-run reuses the derived manifests too


def test_auto_references_come_from_pauses_and_a_row_without_one_says_why(tmp_path):
    from ncse_cli.data.prepare.auto_refs import derive_auto_manifest
    from ncse_cli.data.prepare.runner import ManifestSummary

    path = make_manifest(tmp_path, count=2, seconds=1.0, name="field", split="test")
    manifest = read_manifest(path)
    recording, talk = speech_with_pauses([("pause", 0.8), ("speech", 1.5), ("pause", 0.6), ("speech", 1.0)])
    write_wav(manifest.resolve(manifest.rows[0].noisy), recording, 16000)
    manifest.rows[0].num_samples = len(recording)
    write_manifest(path, manifest.rows)  # row 0 has pauses; row 1 is one second of talk in noise
    derived = read_manifest(derive_auto_manifest(ManifestSummary("field", path, 2, 2, 0, 0, 2.0)).path)
    with_pauses, without = derived.rows
    samples = load_audio(derived.resolve(with_pauses.noise_ref)).samples
    expected = condition_references(manifest, ReferenceCondition("auto"), 16000)  # evaluate --reference auto's
    np.testing.assert_allclose(samples, expected[with_pauses.id], atol=1e-6)
    assert len(samples) == 4000 and with_pauses.noise_ref == "field_auto/noise_ref/field_000.wav"
    speech = detect_speech(recording, 16000).speech
    for stretch in with_pauses.extra["auto_reference"].split(";"):
        start, end = (float(t) for t in stretch.split("-"))
        assert all(end <= s.start / 16000 or start >= s.end / 16000 for s in speech)  # never overlaps speech
        assert not np.any(talk[int(start * 16000):int(end * 16000)])
    assert without.noise_ref is None and without.extra["auto_reference_reason"].startswith("no pause long enough")


def test_ref_source_other_than_auto_is_vbdemands_alone(tmp_path):
    with pytest.raises(PrepareError, match="--ref-source takes only 'auto' here, got 'other'"):
        api.prepare("demo", tmp_path, ref_source="other", num_test=1)
