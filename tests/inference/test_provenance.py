"""Outputs carry the identity of their input: an output made from another recording of the same name, a file edited
since, or another noise reference is enhanced again (or refused), never kept as if it were today's."""

import hashlib
import json
import os

import numpy as np
import pytest

from ncse_cli.inference.enhancer import Enhancer
from ncse_cli.inference.jobs import resolve_inputs
from ncse_cli.inference.provenance import INPUTS_FILE
from ncse_cli.inference.settings import EnhanceError, EnhanceSettings
from tests.dummies import noise, read_wav, speech, write_wav

FAST = EnhanceSettings(steps=1)


@pytest.fixture(scope="module")
def model(model_dir):
    return Enhancer.load(model_dir, FAST)


def run(model, source, out, noise_ref="none", **settings):
    if settings:
        model = model.with_settings(**settings)
    return model.run(resolve_inputs(source, out, noise_ref))


def recording(path, seed):
    return write_wav(path, speech(0.6, seed=seed) + noise(0.6, seed=seed, level=0.05), 16000)


def test_an_output_of_another_recording_of_the_same_name_is_enhanced_again(model, tmp_path):
    first = recording(tmp_path / "one" / "m00.wav", seed=1)
    other = recording(tmp_path / "other" / "m00.wav", seed=2)
    out = tmp_path / "out"
    run(model, first, out)
    report = run(model, other, out)
    assert (report.written, report.skipped, report.changed) == (1, 0, 1)
    run(model, other, tmp_path / "fresh")
    np.testing.assert_array_equal(read_wav(out / "m00.wav"), read_wav(tmp_path / "fresh" / "m00.wav"))
    # and a third run with the same input keeps it
    assert (lambda r: (r.written, r.skipped, r.changed))(run(model, other, out)) == (0, 1, 0)


def test_with_on_changed_refuse_a_changed_input_is_named_and_nothing_is_written(model, tmp_path):
    source = recording(tmp_path / "in" / "m00.wav", seed=1)
    out = tmp_path / "out"
    run(model, source, out)
    before = (out / "m00.wav").read_bytes()
    recording(source, seed=3)  # edited in place: same name, same length, other content
    with pytest.raises(EnhanceError, match=r"m00.wav: made from another file than .*in/m00.wav .*--on-changed"):
        run(model, source, out, on_changed="refuse")
    assert (out / "m00.wav").read_bytes() == before


def test_the_same_content_is_kept_whatever_its_time_stamp(model, tmp_path):
    source = recording(tmp_path / "m00.wav", seed=1)
    run(model, source, tmp_path / "out")
    os.utime(source, (1, 1))
    assert run(model, source, tmp_path / "out").skipped == 1


def test_a_changed_noise_reference_is_a_changed_input(model, tmp_path):
    source = recording(tmp_path / "in" / "m00.wav", seed=1)
    ref = write_wav(tmp_path / "ref.wav", noise(1.0, seed=4, level=0.1), 16000)
    run(model, source, tmp_path / "out", noise_ref=ref)
    write_wav(ref, noise(1.0, seed=5, level=0.1, kind="white"), 16000)
    with pytest.raises(EnhanceError, match="made with another noise reference than .*ref.wav"):
        run(model, source, tmp_path / "out", noise_ref=ref, on_changed="refuse")
    assert run(model, source, tmp_path / "out", noise_ref=ref).changed == 1


def test_each_output_records_the_hash_and_size_of_its_input(model, tmp_path):
    source = recording(tmp_path / "in" / "sub" / "m00.wav", seed=1)
    run(model, tmp_path / "in", tmp_path / "out")
    lines = (tmp_path / "out" / INPUTS_FILE).read_text().splitlines()
    content = source.read_bytes()
    assert [json.loads(line) for line in lines] == [
        {"out": "sub/m00.wav", "input": {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)},
         "noise_ref": None}]


def test_an_output_without_a_recorded_input_is_enhanced_again(model, tmp_path):
    """Outputs written before inputs were recorded (or whose line a crash lost, or tore) are of unknown origin."""
    source = recording(tmp_path / "m00.wav", seed=1)
    run(model, source, tmp_path / "out")
    log = tmp_path / "out" / INPUTS_FILE
    log.write_text(log.read_text()[:-9])  # the last line torn
    assert run(model, source, tmp_path / "out").changed == 1
    log.unlink()
    with pytest.raises(EnhanceError, match="no record of the input it was made from"):
        run(model, source, tmp_path / "out", on_changed="refuse")
