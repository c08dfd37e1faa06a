"""Reference conditions and sampler seeds through ``evaluate``: each condition changes the reference the model
receives (spied at the enhancement call), the null condition gives exactly the w = 0 outputs, several sampler
seeds and conditions keep their results side by side, and folders written before either existed are read."""

import json
import shutil

import numpy as np
import pytest

import ncse_cli.inference.enhancer as enhancer_module
from ncse_cli.data.manifest import read_manifest
from ncse_cli.evaluation import EvaluateOptions, evaluate
from ncse_cli.evaluation.conditions import ReferenceCondition, condition_references
from ncse_cli.evaluation.results import read_summary
from ncse_cli.evaluation.scoring import read_scores
from ncse_cli.inference.settings import EnhanceSettings
from ncse_cli.workspace import Workspace
from tests.dummies import make_manifest, make_model_dir, read_wav

#: fp32: on CPUs with AMX the automatic precision is bf16, where torch 2.11's stride-2 convolutions give NaN for
#: some tiny inputs (a 0.1 s reference in the CNN encoder)
SETTINGS = EnhanceSettings(steps=1, precision="fp32")


class Options(EvaluateOptions):
    """Evaluation options that score SI-SDR alone: no test here reads another metric (which metrics are scored, and
    when results are reused, is test_evaluate.py's), and PESQ costs about 70 ms a one-second clip, DNSMOS 0.4 s."""

    @property
    def metrics(self) -> tuple[str, ...]:
        return ("si_sdr",)


KINDS = ("white", "brown")


@pytest.fixture(scope="module")
def two_types(tmp_path_factory):
    """Four mixtures, two of each noise type (so both borrowing conditions can be served)."""
    return make_manifest(tmp_path_factory.mktemp("two_types"), count=4, kinds=KINDS, ref_seconds=0.5,
                         name="typed", split="test")


@pytest.fixture
def workspace(tmp_path, model_dir):
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(model_dir, ws.model_dir("m"))
    return ws


@pytest.fixture
def received(monkeypatch):
    """Every reference the enhancement call receives, by utterance id (``None``: no reference)."""
    seen = {}
    real = enhancer_module.enhance_waveforms

    def spy(model, noisy, noise_ref, **kwargs):
        ids = [job.id for job in spy.jobs]
        for i, key in enumerate(ids):
            seen[key] = None if noise_ref is None else noise_ref[i].numpy().copy()
        return real(model, noisy, noise_ref, **kwargs)

    real_batch = enhancer_module.Enhancer._enhance_batch

    def batch(self, jobs, *args):
        spy.jobs = jobs
        return real_batch(self, jobs, *args)

    monkeypatch.setattr(enhancer_module, "enhance_waveforms", spy)
    monkeypatch.setattr(enhancer_module.Enhancer, "_enhance_batch", batch)
    return seen


def enhanced(summary):
    folder = summary.path.parent / "enhanced"
    return {p.stem: read_wav(p) for p in sorted(folder.glob("*.wav"))}


@pytest.mark.parametrize("label", ["same-type", "mismatched", "white", "oracle", "matched-0.25s", "oracle-0.25s"])
def test_each_condition_changes_the_reference_the_model_receives(workspace, two_types, received, label):
    manifest = read_manifest(two_types)
    condition = ReferenceCondition.parse(label)
    summary = evaluate(workspace, "m", [two_types], Options(settings=SETTINGS, conditions=(condition,)))[1]
    assert (summary.label, summary.condition) == (f"w1.{label}", label)
    expected = condition_references(manifest, condition, 16000)
    for row in manifest:
        own = read_wav(manifest.resolve(row.noise_ref))
        np.testing.assert_array_equal(received[row.id], expected[row.id])  # what the model got is the condition's
        assert received[row.id].shape != own.shape or not np.allclose(received[row.id], own)
    record = json.loads((summary.path.parent / "references.json").read_text())
    assert record["condition"] == label and set(record["rows"]) == {row.id for row in manifest}
    assert json.loads((summary.path.parent / "settings.json").read_text())["reference"] == label


def test_matched_gives_the_stored_references_and_auto_ones_cut_from_the_mixture(workspace, two_types, received):
    manifest = read_manifest(two_types)
    options = Options(settings=SETTINGS, conditions=(ReferenceCondition(), ReferenceCondition("auto", 0.1)))
    matched, auto = evaluate(workspace, "m", [two_types], options)[1:]
    assert (matched.label, auto.label) == ("w1", "w1.auto-0.1s")
    rows = json.loads((auto.path.parent / "references.json").read_text())["rows"]
    found = {key for key, source in rows.items() if not source.get("reason")}
    assert 0 < len(found) < len(rows)  # these mixtures have one pause long enough, the others none
    for row in manifest:
        if row.id not in found:  # enhanced with the null condition
            assert received[row.id] is None and not rows[row.id]["stretches"]
            continue
        (start, end), = rows[row.id]["stretches"]  # one pause: the reference is that stretch of the mixture
        noisy = read_wav(manifest.resolve(row.noisy))
        np.testing.assert_array_equal(received[row.id], noisy[round(start * 16000):round(end * 16000)])
        np.testing.assert_array_equal(received[row.id], read_wav(auto.path.parent / "references" / f"{row.id}.wav"))
    # matched again: the model received each row's own stored reference
    evaluate(workspace, "m", [two_types], Options(settings=SETTINGS, overwrite=True, ws=(2.0,)))
    for row in manifest:
        np.testing.assert_array_equal(received[row.id], read_wav(manifest.resolve(row.noise_ref)))


def test_the_null_condition_equals_guidance_at_w_zero(workspace, two_types, received):
    options = Options(ws=(0.0, 3.0), settings=SETTINGS, conditions=(ReferenceCondition(),
                                                                             ReferenceCondition("null")))
    summaries = {s.label: s for s in evaluate(workspace, "m", [two_types], options)[1:]}
    assert set(summaries) == {"w0", "w3", "w-.null"}  # null is evaluated once, whatever w
    assert all(received[key] is None for key in received)  # the last point run is the null one: no reference
    null, zero, three = enhanced(summaries["w-.null"]), enhanced(summaries["w0"]), enhanced(summaries["w3"])
    for key in null:
        np.testing.assert_allclose(null[key], zero[key], rtol=0, atol=1e-6)
        assert not np.allclose(null[key], three[key], atol=1e-4)
    assert summaries["w-.null"].metrics["si_sdr"].mean == pytest.approx(summaries["w0"].metrics["si_sdr"].mean,
                                                                        abs=1e-3)


def test_two_sampler_seeds_coexist_and_are_reused(workspace, testset):
    both = evaluate(workspace, "m", [testset], Options(settings=SETTINGS, seeds=(0, 1)))[1:]
    assert [(s.label, s.sampler_seed) for s in both] == [("w1", 0), ("w1.seed1", 1)]
    first, second = (enhanced(s) for s in both)
    assert all(not np.allclose(first[k], second[k]) for k in first)  # other sampler noise, other outputs
    files = {p: p.stat().st_mtime_ns for s in both for p in s.path.parent.rglob("*") if p.is_file()}
    again = evaluate(workspace, "m", [testset], Options(settings=SETTINGS, seeds=(1,)))[1]
    assert again.metrics == both[1].metrics
    assert {p: p.stat().st_mtime_ns for p in files} == files  # nothing redone, nothing deleted
    third = evaluate(workspace, "m", [testset], Options(settings=EnhanceSettings(steps=1, seed=2, precision="fp32")))[1]
    assert third.label == "w1.seed2" and both[0].path.is_file() and both[1].path.is_file()


def test_an_unconditioned_model_is_evaluated_once_per_seed_whatever_the_conditions(tmp_path, testset):
    ws = Workspace(tmp_path / "ws")
    make_model_dir(ws.model_dir("plain"), encoder="none")
    options = Options(ws=(1.0, 3.0), settings=SETTINGS, seeds=(0, 1),
                              conditions=(ReferenceCondition(), ReferenceCondition("mismatched")))
    assert [s.label for s in evaluate(ws, "plain", [testset], options)[1:]] == ["w-", "w-.seed1"]


def test_summaries_written_before_conditions_and_seeds_are_read_as_matched(workspace, testset):
    settings = EnhanceSettings(steps=1, seed=4, precision="fp32")
    summary = evaluate(workspace, "m", [testset], Options(settings=settings))[1]
    data = json.loads(summary.path.read_text())
    for key in ("condition", "sampler_seed"):
        data.pop(key)
    summary.path.write_text(json.dumps(data))
    old = read_summary(summary.path)
    assert (old.condition, old.sampler_seed, old.label) == ("matched", 4, "w1.seed4")
    assert list(read_scores(summary.path.parent / "scores.csv")["id"]) == [r.id for r in read_manifest(testset)]
