"""The enhancement use case: inputs (file, folder, manifest), rates and lengths, references, resume, seeds,
settings recorded with the outputs, and a model directory read once."""

import dataclasses
import json
import logging

import numpy as np
import pytest
import soundfile as sf
import torch

from ncse_cli import api, model_dir as model_dir_module
from ncse_cli.evaluation import EvaluateOptions, EvaluationError
from ncse_cli.inference.batches import plan_batches, utterance_generator
from ncse_cli.inference.enhancer import Enhancer
from ncse_cli.inference.jobs import InputError, resolve_inputs
from ncse_cli.inference.outputs import RECORD_FILE
from ncse_cli.inference.settings import EnhanceError, EnhanceSettings
from ncse_cli.tensors import randn_like
from tests.dummies import noise, read_wav, speech, write_wav

FAST = EnhanceSettings(steps=1)


@pytest.fixture(scope="module")
def model(model_dir):
    """The tiny model with a 2-step sampler."""
    return Enhancer.load(model_dir, FAST)


def run(model, source, out, noise_ref="none", **settings):
    """Enhance ``source`` into ``out`` with ``model`` (inputs without a reference: the null condition), at other
    ``settings`` when given (loaded again)."""
    if settings:
        model = Enhancer.load(model.directory, dataclasses.replace(FAST, **settings))
    return model.run(resolve_inputs(source, out, noise_ref))


@pytest.mark.parametrize("rate", [8000, 48000])
def test_output_keeps_the_input_rate_and_length(model, tmp_path, rate):
    noisy = write_wav(tmp_path / "in.wav", speech(0.77, rate) + noise(0.77, rate, level=0.02), rate)
    report = run(model, noisy, tmp_path / "out")
    data, out_rate = sf.read(tmp_path / "out" / "in.wav")
    assert (out_rate, len(data), report.written) == (rate, len(sf.read(noisy)[0]), 1)
    assert np.isfinite(data).all() and np.abs(data).max() > 0


def test_folder_input_mirrors_its_tree(model, tmp_path):
    for rel in ("a.wav", "sub/b.wav", "sub/deeper/c.flac"):
        write_wav(tmp_path / "in" / rel, speech(0.5, seed=len(rel)), 16000, subtype="PCM_16")
    (tmp_path / "in" / "notes.txt").write_text("not audio")
    inputs = resolve_inputs(tmp_path / "in", tmp_path / "out")
    assert inputs.kind == "folder" and [j.id for j in inputs.jobs] == ["a", "sub/b", "sub/deeper/c"]
    model.run(inputs)
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.wav")) == [
        "a.wav", "sub/b.wav", "sub/deeper/c.wav"]


def test_an_output_folder_inside_the_input_folder_is_not_read_back(model, tmp_path):
    write_wav(tmp_path / "in" / "a.wav", speech(0.5), 16000)
    for _ in range(2):
        inputs = resolve_inputs(tmp_path / "in", tmp_path / "in" / "enhanced")
        assert [j.id for j in inputs.jobs] == ["a"]
        model.run(inputs)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.wav")) == [
        "in/a.wav", "in/enhanced/a.wav"]


def test_manifest_rows_use_their_own_references_and_noise_ref_overrides(model, testset, tmp_path):
    inputs = resolve_inputs(testset, tmp_path / "rows")
    assert inputs.kind == "manifest" and inputs.without_reference == 0
    assert len({j.noise_ref for j in inputs.jobs}) == 3
    other = write_wav(tmp_path / "other_ref.wav", noise(0.5, seed=99, kind="white", level=0.3), 16000)
    model.run(inputs)
    run(model, testset, tmp_path / "override", noise_ref=other)
    for job in inputs.jobs:
        own, overridden = read_wav(job.out), read_wav(tmp_path / "override" / job.out.name)
        assert own.shape == overridden.shape and not np.allclose(own, overridden, atol=1e-4)


def test_with_noise_ref_none_it_enhances_unconditionally_and_says_so(model_dir, tmp_path, caplog):
    noisy = write_wav(tmp_path / "x.wav", speech(0.5), 16000)
    with caplog.at_level(logging.INFO, logger="ncse"):
        report = api.enhance(str(model_dir), noisy, tmp_path / "out", noise_ref="none", settings=FAST)
    notices = [r.getMessage() for r in caplog.records if "unconditionally" in r.getMessage()]
    assert len(notices) == 1 and report.unconditional == 1
    assert (tmp_path / "out" / "x.wav").is_file()


def test_existing_outputs_are_kept_so_an_interrupted_run_continues(model, testset, tmp_path):
    out = tmp_path / "out"
    first = run(model, testset, out)
    reference = {p.name: read_wav(p) for p in out.glob("*.wav")}
    marker = out / "tiny_test_000.wav"
    write_wav(marker, np.zeros(100, np.float32), 16000)  # stands for a file we must not touch
    (out / "tiny_test_001.wav").unlink()  # as if the run had stopped before it
    second = run(model, testset, out)
    assert (first.written, second.written, second.skipped) == (3, 1, 2)
    assert len(read_wav(marker)) == 100
    np.testing.assert_array_equal(read_wav(out / "tiny_test_001.wav"), reference["tiny_test_001.wav"])


def test_a_rerun_with_other_settings_is_refused_instead_of_keeping_other_outputs(model_dir, testset, tmp_path):
    out = tmp_path / "out"
    api.enhance(str(model_dir), testset, out, settings=EnhanceSettings(steps=1))
    (out / "tiny_test_001.wav").unlink()  # as if the first run had stopped before it
    with pytest.raises(EnhanceError, match="other sampler, w; choose another --out"):
        api.enhance(str(model_dir), testset, out, settings=EnhanceSettings(steps=2, w=3.0))
    assert not (out / "tiny_test_001.wav").exists()
    assert api.enhance(str(model_dir), testset, out, settings=EnhanceSettings(steps=1)).written == 1


def test_a_folder_recorded_before_w_was_called_w_is_continued(model, testset, tmp_path):
    out = tmp_path / "out"
    run(model, testset, out)
    record = json.loads((out / RECORD_FILE).read_text())
    record["cfg_scale"] = record.pop("w")  # what versions before the rename wrote
    (out / RECORD_FILE).write_text(json.dumps(record))
    (out / "tiny_test_002.wav").unlink()
    assert run(model, testset, out).written == 1


def test_results_do_not_depend_on_batching_or_order(model, testset, tmp_path):
    single = run(model, testset, tmp_path / "single")
    batched = run(model, testset, tmp_path / "batched", batch_size=3)
    assert single.written == batched.written == 3
    for path in (tmp_path / "single").glob("*.wav"):  # equal up to float rounding of batched convolutions
        one, other = read_wav(path), read_wav(tmp_path / "batched" / path.name)
        assert np.abs(one - other).max() <= 1e-5 * np.abs(one).max()


def test_batches_group_equal_shapes_only(tmp_path):
    paths = [write_wav(tmp_path / f"{i}.wav", speech(s), 16000) for i, s in enumerate([0.5, 0.6, 0.5, 0.5])]
    jobs = resolve_inputs(tmp_path, tmp_path / "out").jobs
    batches = plan_batches(jobs, batch_size=2, use_ref=False)
    assert sorted(len(b) for b in batches) == [1, 1, 2]
    assert all(len({sf.info(j.noisy).frames for j in b}) == 1 for b in batches)
    assert len(paths) == sum(len(b) for b in batches)


def test_per_row_generators_draw_what_each_would_draw_alone():
    x = torch.zeros(3, 1, 4, 6, dtype=torch.complex64)
    together = randn_like(x, [utterance_generator(0, k) for k in ("a", "b", "c")])
    alone = randn_like(x[:1], utterance_generator(0, "b"))
    torch.testing.assert_close(together[1:2], alone, rtol=0, atol=0)
    assert not torch.equal(together[0], together[1])


def test_bad_inputs_are_named(model, tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        resolve_inputs(tmp_path / "missing.wav", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no audio files"):
        resolve_inputs(tmp_path / "empty", tmp_path / "out")
    noisy = write_wav(tmp_path / "in.wav", speech(0.5), 16000)
    with pytest.raises(InputError, match="overwrite its input"):
        resolve_inputs(noisy, tmp_path)
    for w in (-1.0, float("inf")):
        with pytest.raises(EnhanceError, match="finite and non-negative"):
            EnhanceSettings(w=w)
    with pytest.raises(EvaluationError, match="finite and non-negative"):
        EvaluateOptions(ws=(1.0, float("inf")))


def test_no_reference_equals_the_null_branch_of_any_reference(model, tmp_path):
    noisy = write_wav(tmp_path / "x.wav", speech(0.5) + noise(0.5, level=0.02), 16000)
    ref = write_wav(tmp_path / "ref.wav", noise(0.5, seed=4, level=0.05), 16000)
    run(model, noisy, tmp_path / "none")
    run(model, noisy, tmp_path / "w0", noise_ref=ref, w=0.0)
    run(model, noisy, tmp_path / "w1", noise_ref=ref)
    unconditional = read_wav(tmp_path / "none" / "x.wav")
    np.testing.assert_allclose(unconditional, read_wav(tmp_path / "w0" / "x.wav"), rtol=0, atol=1e-6)
    assert not np.allclose(unconditional, read_wav(tmp_path / "w1" / "x.wav"), atol=1e-4)


def test_the_model_directory_is_read_once(model_dir, tmp_path, monkeypatch):
    reads = []
    real_yaml, real_bytes = model_dir_module.load_yaml, type(model_dir).read_bytes
    monkeypatch.setattr(model_dir_module, "load_yaml", lambda path: reads.append(path.name) or real_yaml(path))
    monkeypatch.setattr(type(model_dir), "read_bytes", lambda path: reads.append(path.name) or real_bytes(path))
    noisy = write_wav(tmp_path / "x.wav", speech(0.5), 16000)
    api.enhance(str(model_dir), noisy, tmp_path / "out", settings=EnhanceSettings(steps=1))
    assert sorted(reads) == ["config.yaml", "model.safetensors"]


def test_a_folder_reads_every_format_a_single_file_does(tmp_path):
    """An .mp3 (or .aiff, .opus...) given alone and the same file in a folder are both inputs, or neither."""
    write_wav(tmp_path / "in" / "a.wav", speech(0.5), 16000)
    sf.write(tmp_path / "in" / "b.mp3", speech(0.5, seed=1), 16000, format="MP3")
    sf.write(tmp_path / "in" / "c.AIFF", speech(0.5, seed=2), 16000, format="AIFF")
    (tmp_path / "in" / "notes.txt").write_text("not audio")
    folder = resolve_inputs(tmp_path / "in", tmp_path / "out")
    assert [job.noisy.name for job in folder.jobs] == ["a.wav", "b.mp3", "c.AIFF"]
    for job in folder.jobs:
        assert resolve_inputs(job.noisy, tmp_path / "out").jobs[0].noisy == job.noisy
    with pytest.raises(InputError, match=r"notes.txt: not an audio file ncse reads \(.wav, .flac, .*.mp3"):
        resolve_inputs(tmp_path / "in" / "notes.txt", tmp_path / "out")


def test_two_inputs_of_one_name_in_one_folder_are_both_named(tmp_path):
    sf.write(tmp_path / "m00.flac", speech(0.5), 16000)
    sf.write(tmp_path / "m00.ogg", speech(0.5), 16000, format="OGG", subtype="VORBIS")
    with pytest.raises(InputError, match=r"out/m00.wav: both .*/m00.flac and .*/m00.ogg would be enhanced into"):
        resolve_inputs(tmp_path, tmp_path / "out")


def test_outputs_are_written_in_the_subtype_asked_for(model, tmp_path):
    noisy = write_wav(tmp_path / "in.wav", speech(0.5) + noise(0.5, level=0.02), 16000)
    run(model, noisy, tmp_path / "float")
    exact = read_wav(tmp_path / "float" / "in.wav")
    for subtype, step in (("PCM_16", 2.0 ** -15), ("PCM_24", 2.0 ** -23)):
        run(model, noisy, tmp_path / subtype, subtype=subtype.lower())
        info = sf.info(tmp_path / subtype / "in.wav")
        assert (info.format, info.subtype, sf.info(tmp_path / "float" / "in.wav").subtype) == ("WAV", subtype, "FLOAT")
        # the untrained model overshoots full scale: those samples are clipped, the others rounded
        assert np.abs(read_wav(tmp_path / subtype / "in.wav") - np.clip(exact, -1, 1)).max() <= step
    with pytest.raises(EnhanceError, match="other subtype; choose another --out"):  # a folder holds one format
        run(model, noisy, tmp_path / "float", subtype="PCM_16")


def test_integer_outputs_say_when_they_clip(tmp_path, caplog):
    from ncse_cli.audio import save_audio, save_audio_blocks

    loud = np.array([0.5, 1.5, -2.0, 0.1], np.float32)
    with caplog.at_level(logging.WARNING, logger="ncse"):
        save_audio(tmp_path / "a.wav", loud, 16000, "PCM_16")
        save_audio_blocks(tmp_path / "b.wav", [loud, loud], 16000, "PCM_16")
        save_audio(tmp_path / "c.wav", loud, 16000)
    assert [r.getMessage().split(": ", 1)[1] for r in caplog.records] == [
        "2 sample(s) beyond full scale clipped by the PCM_16 format (FLOAT keeps them)",
        "4 sample(s) beyond full scale clipped by the PCM_16 format (FLOAT keeps them)"]
    np.testing.assert_allclose(read_wav(tmp_path / "a.wav")[1:3], [1.0, -1.0], atol=1e-4)
