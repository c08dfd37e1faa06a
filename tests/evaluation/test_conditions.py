"""Reference conditions: each one really changes the reference (as measured back from the files it comes from),
is deterministic for its seed, and reaches the model as another condition."""

import numpy as np
import pytest
import torch

from ncse_cli.model_dir import load_model
from ncse_cli.data.manifest import read_manifest
from ncse_cli.evaluation.conditions import (ConditionError, ReferenceCondition, build_references, choose_donors,
                                            condition_references, parse_result_label, result_label)
from tests.dummies import make_manifest, make_model_dir, read_wav

RATE = 16000
KINDS = ("white", "brown", "hum")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return read_manifest(make_manifest(tmp_path_factory.mktemp("conditions"), count=6, kinds=KINDS, ref_seconds=0.5,
                                       name="cond", split="test"))


def stored(manifest, row, field):
    return read_wav(manifest.resolve(getattr(row, field)))


def rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def find_segment(segment, signal):
    """The offset at which ``segment`` occurs in ``signal`` (exactly, up to float32 rounding), else None."""
    candidates = np.nonzero(np.abs(signal[:len(signal) - len(segment) + 1] - segment[0]) <= 1e-6)[0]
    return next((int(s) for s in candidates if np.allclose(signal[s:s + len(segment)], segment, atol=1e-6)), None)


@pytest.mark.parametrize("w,condition,seed,label", [
    (1.0, ReferenceCondition(), 0, "w1"), (3.0, ReferenceCondition("mismatched"), 0, "w3.mismatched"),
    (1.5, ReferenceCondition("matched", 0.5), 2, "w1.5.matched-0.5s.seed2"), (None, ReferenceCondition(), 1, "w-.seed1"),
    (0.0, ReferenceCondition("oracle", 2.0), 0, "w0.oracle-2s")])
def test_result_labels_extend_scale_labels_and_parse_back(w, condition, seed, label):
    assert result_label(w, condition, seed) == label
    assert parse_result_label(label) == (w, condition, seed)


def test_null_labels_ignore_w_and_bad_labels_are_refused():
    assert result_label(3.0, ReferenceCondition("null")) == "w-.null"
    for bad in ("x1", "w1.banana", "w1.seed", "w1.null-1s"):
        with pytest.raises(ConditionError):
            parse_result_label(bad)
    with pytest.raises(ConditionError, match="unknown reference condition 'shuffled'"):
        ReferenceCondition("shuffled")
    with pytest.raises(ConditionError, match="positive"):
        ReferenceCondition("matched", 0.0)


def test_matched_is_the_stored_reference_and_null_is_none(manifest):
    matched = condition_references(manifest, ReferenceCondition(), RATE)
    assert all(np.array_equal(matched[r.id], stored(manifest, r, "noise_ref")) for r in manifest)
    assert set(condition_references(manifest, ReferenceCondition("null"), RATE).values()) == {None}


def test_a_shorter_length_is_a_segment_of_the_stored_reference(manifest):
    refs = condition_references(manifest, ReferenceCondition("matched", 0.25), RATE, seed=3)
    for row in manifest:
        assert len(refs[row.id]) == 4000
        assert find_segment(refs[row.id], stored(manifest, row, "noise_ref")) is not None
    again = condition_references(manifest, ReferenceCondition("matched", 0.25), RATE, seed=3)
    assert all(np.array_equal(refs[k], again[k]) for k in refs)
    with pytest.raises(ConditionError, match=r"0\.5 s reference, shorter than the 1 s of condition matched-1s"):
        condition_references(manifest, ReferenceCondition("matched", 1.0), RATE)


@pytest.mark.parametrize("kind,same_type", [("same-type", True), ("mismatched", False)])
def test_borrowed_references_come_from_the_right_noise_type_at_the_own_level(manifest, kind, same_type):
    condition = ReferenceCondition(kind)
    donors = choose_donors(manifest, condition, seed=0)
    refs = condition_references(manifest, condition, RATE)
    rows = {r.id: r for r in manifest}
    for row in manifest:
        donor = rows[donors[row.id]]
        assert donor.id != row.id and (donor.noise_type == row.noise_type) == same_type
        own, theirs = stored(manifest, row, "noise_ref"), stored(manifest, donor, "noise_ref")
        assert rms(refs[row.id]) == pytest.approx(rms(own), rel=1e-5)
        np.testing.assert_allclose(refs[row.id], theirs * (rms(own) / rms(theirs)), rtol=1e-4, atol=1e-7)
        assert not np.allclose(refs[row.id], own)


def test_white_reference_is_level_matched_and_seeded(manifest):
    refs = condition_references(manifest, ReferenceCondition("white"), RATE, seed=0)
    other = condition_references(manifest, ReferenceCondition("white"), RATE, seed=1)
    for row in manifest:
        own = stored(manifest, row, "noise_ref")
        assert len(refs[row.id]) == len(own) and rms(refs[row.id]) == pytest.approx(rms(own), rel=1e-5)
        assert not np.array_equal(refs[row.id], other[row.id])
    spectrum = np.abs(np.fft.rfft(refs[manifest.rows[0].id])) ** 2  # flat: as much power above 4 kHz as below
    assert spectrum[len(spectrum) // 2:].sum() / spectrum[:len(spectrum) // 2].sum() == pytest.approx(1.0, abs=0.15)


def test_oracle_reference_is_a_segment_of_the_mixture_noise(manifest):
    refs = condition_references(manifest, ReferenceCondition("oracle", 0.25), RATE)
    for row in manifest:
        noise = stored(manifest, row, "noisy") - stored(manifest, row, "clean")
        assert len(refs[row.id]) == 4000 and find_segment(refs[row.id], noise) is not None


def test_an_oracle_longer_than_the_mixture_is_all_of_its_noise_and_says_how_long(manifest):
    built = build_references(manifest, ReferenceCondition("oracle", 60.0), RATE)
    for row in manifest:
        noise = stored(manifest, row, "noisy") - stored(manifest, row, "clean")
        np.testing.assert_allclose(built[row.id].samples, noise, atol=1e-6)
        assert built[row.id].source["seconds"] == round(len(noise) / RATE, 4) < 60


def test_conditions_that_a_test_set_cannot_serve_are_named(tmp_path, manifest):
    one_type = read_manifest(make_manifest(tmp_path, count=2, name="one", split="test"))
    with pytest.raises(ConditionError, match="mismatched condition needs a second noise type"):
        condition_references(one_type, ReferenceCondition("mismatched"), RATE)
    single = read_manifest(make_manifest(tmp_path, count=2, kinds=("white", "hum"), name="two", split="test"))
    with pytest.raises(ConditionError, match="needs a second utterance of noise type 'white'"):
        condition_references(single, ReferenceCondition("same-type"), RATE)
    bare = read_manifest(make_manifest(tmp_path, count=2, name="bare", split="test", with_ref=False))
    with pytest.raises(ConditionError, match="has no noise reference; the white condition needs one"):
        condition_references(bare, ReferenceCondition("white"), RATE)


def test_each_condition_changes_the_condition_the_model_receives(tmp_path, manifest):
    """Every kind but null gives another embedding than the matched reference. (Null gives no reference, which
    enhancement treats as w = 0: tests/core/test_guidance.py, the model without a reference.)"""
    model = load_model(make_model_dir(tmp_path / "m"), torch.device("cpu"))
    row = manifest.rows[0]
    embeddings = {}
    for kind in ("matched", "same-type", "mismatched", "white", "oracle"):
        ref = condition_references(manifest, ReferenceCondition(kind), RATE)[row.id]
        with torch.inference_mode():
            embeddings[kind] = model.encode(torch.from_numpy(ref)[None]).vector[0]
    assert all(not torch.allclose(embeddings["matched"], e) for k, e in embeddings.items() if k != "matched")
