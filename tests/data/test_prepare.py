"""Prepare recipes on small official-layout trees: SNRs measured back from the written files, references that
never overlap the mixture (checked against the source audio), determinism, idempotency and resumption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from ncse_cli.audio import RESAMPLER_ID, load_audio
from ncse_cli.config import ConfigError
from ncse_cli.data.manifest import Manifest, read_manifest
from ncse_cli.data.mixing import snr_db
from ncse_cli.data.noise import NoiseClip, load_clip
from ncse_cli.data.prepare import (DemoConfig, PrepareError, PrepareStateError, prepare_demo,
                                   prepare_nonstationary, prepare_ood, prepare_vbdemand)
from ncse_cli.data.prepare.demo import make_demo_row, plan_demo
from ncse_cli.data.prepare.runner import run_recipe
from ncse_cli.evaluation.testsets import load_testset
from tests.dummies import make_clean_dir, make_esc50_tree, read_wav

SR = 16000
SMALL = DemoConfig(num_train=4, num_valid=2, num_test=6, seconds=1.0, ref_seconds=0.25)


def parts(manifest: Manifest, row) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clean, noise = noisy - clean, reference) as written."""
    clean, noisy = read_wav(manifest.resolve(row.clean)), read_wav(manifest.resolve(row.noisy))
    return clean, noisy - clean, read_wav(manifest.resolve(row.noise_ref))


def assert_snrs_round_trip(path: Path) -> Manifest:
    manifest = read_manifest(path)
    for row in manifest:
        clean, noise, ref = parts(manifest, row)
        assert snr_db(clean, noise, row.extra["snr_method"], SR) == pytest.approx(row.snr_db, abs=0.05)
        assert row.num_samples == len(clean) and row.sample_rate == SR and len(ref) == row.extra["ref_samples"]
    return manifest


def fit(segment: np.ndarray, source: np.ndarray) -> tuple[float, float]:
    """(scale, relative residual) of ``segment ~ scale * source``."""
    segment, source = segment.astype(np.float64), source.astype(np.float64)
    scale = float(segment @ source / (source @ source))
    return scale, float(np.linalg.norm(segment - scale * source) / np.linalg.norm(segment))


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    prepare_demo(out, seed=3, config=SMALL)
    return out


def test_demo_layout_snrs_and_speaker_disjoint_splits(demo_dir):
    speakers = {}
    for split, count in (("train", 4), ("valid", 2), ("test", 6)):
        manifest = assert_snrs_round_trip(demo_dir / f"{split}.jsonl")
        assert len(manifest) == count and all(r.split == split and r.num_samples == SR for r in manifest)
        speakers[split] = {r.extra["speaker"] for r in manifest}
    assert not speakers["train"] & speakers["test"] and not speakers["valid"] & speakers["test"]
    test = read_manifest(demo_dir / "test.jsonl")
    assert {r.noise_type for r in test} == set(DemoConfig().noise_kinds)
    for row in test:  # the reference is another, non-overlapping part of the same noise
        a, b, n = row.extra["noise_offset"], row.extra["ref_offset"], row.extra["ref_samples"]
        assert a + row.num_samples <= b or b + n <= a


def test_demo_same_seed_same_bytes_other_seed_differs(demo_dir, tmp_path):
    prepare_demo(tmp_path / "again", seed=3, config=SMALL)
    prepare_demo(tmp_path / "other", seed=4, config=SMALL)
    for split in ("train", "valid", "test"):
        assert (tmp_path / "again" / f"{split}.jsonl").read_bytes() == (demo_dir / f"{split}.jsonl").read_bytes()
    for part in ("clean", "noisy", "noise_ref"):  # float WAV headers carry a write time: compare samples
        name = f"test/{part}/test_0000.wav"
        assert np.array_equal(read_wav(tmp_path / "again" / name), read_wav(demo_dir / name))
    assert (tmp_path / "other" / "train.jsonl").read_bytes() != (demo_dir / "train.jsonl").read_bytes()


def test_rerun_is_a_noop_and_a_changed_configuration_is_refused(demo_dir):
    before = {p: p.stat().st_mtime_ns for p in demo_dir.glob("*.jsonl")}
    result = prepare_demo(demo_dir, seed=3, config=SMALL)
    assert result.up_to_date and [m.reused for m in result.manifests] == [4, 2, 6]
    assert {p: p.stat().st_mtime_ns for p in demo_dir.glob("*.jsonl")} == before
    with pytest.raises(PrepareStateError, match=r"another configuration \(seed: 3 -> 5\).*--overwrite"):
        prepare_demo(demo_dir, seed=5, config=SMALL)


@pytest.mark.parametrize("out", ["file.txt", "file.txt/sub"])
def test_an_out_folder_that_is_a_file_is_a_prepare_error(tmp_path, out):
    (tmp_path / "file.txt").write_text("kept")
    with pytest.raises(PrepareError, match="file.txt.*cannot create the output folder"):
        prepare_demo(tmp_path / out, seed=0, config=SMALL)
    assert (tmp_path / "file.txt").read_text() == "kept"


def test_overwrite_rebuilds_without_leftovers(tmp_path):
    prepare_demo(tmp_path, seed=0, config=SMALL)
    smaller = DemoConfig(num_train=2, num_valid=1, num_test=1, seconds=1.0, ref_seconds=0.25)
    result = prepare_demo(tmp_path, seed=0, config=smaller, overwrite=True)
    assert [m.written for m in result.manifests] == [2, 1, 1]
    assert sorted(p.name for p in (tmp_path / "train" / "noisy").iterdir()) == ["train_0000.wav", "train_0001.wav"]


class _Interrupted(Exception):
    pass


_calls = {"count": 0}


def _crash_on_third(spec, out_dir):
    _calls["count"] += 1
    if _calls["count"] == 3:
        raise _Interrupted
    return make_demo_row(spec, out_dir)


def test_interrupted_run_resumes_where_it_stopped(tmp_path, demo_dir):
    cfg = DemoConfig(**{**SMALL.__dict__, "seed": 3})
    resolved = yaml.safe_load((demo_dir / "prepare_demo.yaml").read_text())["config"]
    with pytest.raises(_Interrupted):
        run_recipe("demo", tmp_path, resolved, plan_demo(cfg), _crash_on_third)
    assert len((tmp_path / ".prepare_demo.journal.jsonl").read_text().splitlines()) == 2
    assert not (tmp_path / "train.jsonl").exists()
    result = prepare_demo(tmp_path, seed=3, config=SMALL)
    assert sum(m.reused for m in result.manifests) == 2 and sum(m.written for m in result.manifests) == 10
    for split in ("train", "valid", "test"):
        assert (tmp_path / f"{split}.jsonl").read_bytes() == (demo_dir / f"{split}.jsonl").read_bytes()
    assert not (tmp_path / ".prepare_demo.journal.jsonl").exists()


@pytest.mark.slow
@pytest.mark.xdist_group("forkserver")
def test_workers_do_not_change_the_outputs(demo_dir, tmp_path):
    prepare_demo(tmp_path, seed=3, config=SMALL, jobs=2)
    for split in ("train", "valid", "test"):
        assert (tmp_path / f"{split}.jsonl").read_bytes() == (demo_dir / f"{split}.jsonl").read_bytes()


def _vb_noise(pair_dir: Path, utt: str) -> tuple[np.ndarray, np.ndarray]:
    clean = load_audio(pair_dir.parent / pair_dir.name.replace("noisy", "clean") / f"{utt}.wav", SR,
                       resample=True).samples
    noisy = load_audio(pair_dir / f"{utt}.wav", SR, resample=True).samples
    return clean, (noisy.astype(np.float64) - clean).astype(np.float32)


def test_vbdemand_same_reference_is_the_cut_off_start_of_the_noise(trees, tmp_path):
    result = prepare_vbdemand(trees["vb"], tmp_path)
    assert [m.name for m in result.manifests] == ["vbdemand_train", "vbdemand_valid", "vbdemand_test"]
    speakers = {m.name: {r.extra["speaker"] for r in assert_snrs_round_trip(m.path)} for m in result.manifests}
    assert speakers == {"vbdemand_train": {"p227", "p228"}, "vbdemand_valid": {"p226", "p287"},
                        "vbdemand_test": {"p232"}}
    manifest = read_manifest(tmp_path / "vbdemand_test.jsonl")
    for row in manifest:
        clean0, noise0 = _vb_noise(trees["vb"] / "noisy_testset_wav", row.id)
        clean, noise, ref = parts(manifest, row)
        r = row.extra["ref_samples"]
        assert r == 4000 and row.extra["noise_offset"] == r and row.extra["resampler"] == RESAMPLER_ID
        assert np.array_equal(clean, clean0[r:])
        assert np.allclose(noise, noise0[r:], atol=1e-6) and np.allclose(ref, noise0[:r], atol=1e-6)
        assert row.extra["log_snr_db"] in (2.5, 7.5) and row.noise_type in ("living", "bus")


def test_vbdemand_other_and_oracle_references(trees, tmp_path):
    prepare_vbdemand(trees["vb"], tmp_path, ref_source="other", seed=1)
    manifest = read_manifest(tmp_path / "vbdemand_train_other.jsonl")
    types = {r.id: r.noise_type for r in manifest}
    for row in manifest:
        donor = row.extra["ref_from"]
        assert donor != row.id and types[donor] == row.noise_type
        _, donor_noise = _vb_noise(trees["vb"] / "noisy_trainset_28spk_wav", donor)
        start = row.extra["ref_offset"]
        assert np.allclose(parts(manifest, row)[2], donor_noise[start:start + 4000], atol=1e-6)
    prepare_vbdemand(trees["vb"], tmp_path, ref_source="oracle")
    oracle = read_manifest(tmp_path / "vbdemand_test_oracle.jsonl")
    for row in oracle:
        _, noise, ref = parts(oracle, row)
        start = row.extra["ref_offset"]
        assert row.extra["ref_source"] == "oracle" and np.allclose(ref, noise[start:start + 4000], atol=1e-6)


def test_vbdemand_rejects_missing_validation_speakers(trees, tmp_path):
    with pytest.raises(ConfigError, match="none of the validation speakers p999"):
        prepare_vbdemand(trees["vb"], tmp_path, valid_speakers=("p999",))


def test_ood_references_are_disjoint_segments_of_the_same_clip(trees, tmp_path):
    result = prepare_ood(trees["clean"], tmp_path, esc50=trees["esc50"], urbansound=trees["urbansound"],
                         snrs=(0, 5, 10))
    assert [m.name for m in result.manifests] == [f"{c}_snr{s}" for c in ("esc50", "urbansound8k") for s in (0, 5, 10)]
    stereo = {r.extra["clip"] for r in read_manifest(tmp_path / "urbansound8k_snr0.jsonl")
              if r.extra["clip"].endswith("-0.wav")}  # the dummy's stereo clips
    assert result.notices == {"2 channels mixed down to mono": len(stereo)} and stereo
    by_snr = [assert_snrs_round_trip(tmp_path / f"esc50_snr{s}.jsonl") for s in (0, 5, 10)]
    assert len({r.noise_type for r in by_snr[0]}) == 3  # categories are visited in turn
    for rows in zip(*by_snr):  # the same clip segment at every SNR
        assert len({(r.extra["clip"], r.extra["noise_offset"], r.extra["ref_offset"]) for r in rows}) == 1
    for row in by_snr[0]:
        path = trees["esc50"] / "audio" / row.extra["clip"]
        source = load_clip(NoiseClip(str(path), "esc50", row.noise_type), SR, np.random.default_rng(0), 1)
        _, noise, ref = parts(by_snr[0], row)
        a, b, n, r = row.extra["noise_offset"], row.extra["ref_offset"], row.num_samples, len(ref)
        assert row.extra["ref_source"] == "same-clip" and (a + n <= b or b + r <= a)
        scale, residual = fit(noise, source[a:a + n])
        ref_scale, ref_residual = fit(ref, source[b:b + r])
        assert residual < 1e-4 and ref_residual < 1e-4 and ref_scale == pytest.approx(scale, rel=1e-4)


def test_ood_with_synthetic_kinds_held_out_of_a_demo_corpus(tmp_path):
    corpus = DemoConfig(num_train=4, num_valid=1, num_test=4, seconds=1.0, noise_kinds=("white", "pink"))
    prepare_demo(tmp_path / "demo", config=corpus)
    assert {r.noise_type for r in read_manifest(tmp_path / "demo" / "train.jsonl")} <= {"white", "pink"}
    result = prepare_ood(tmp_path / "demo" / "test.jsonl", tmp_path / "ood", synthetic=("hum", "clicks"), snrs=(0, 5))
    assert [m.name for m in result.manifests] == ["synthetic_snr0", "synthetic_snr5"]
    rows = assert_snrs_round_trip(tmp_path / "ood" / "synthetic_snr0.jsonl")
    assert sorted(r.noise_type for r in rows) == ["clicks", "clicks", "hum", "hum"]  # kinds in turn
    assert load_testset(tmp_path / "ood" / "synthetic_snr5.jsonl")[0].kind == "ood"


def test_ood_short_clips_borrow_a_reference_from_their_category(trees, tmp_path):
    esc = make_esc50_tree(tmp_path / "esc", seconds=0.4, pad_seconds=0.1)
    prepare_ood(trees["clean"], tmp_path / "out", esc50=esc, snrs=(5,))
    for row in read_manifest(tmp_path / "out" / "esc50_snr5.jsonl"):
        assert row.extra["ref_source"] == "same-category" and row.extra["ref_clip"] != row.extra["clip"]
        assert row.extra["looped"]
    single = make_esc50_tree(tmp_path / "esc1", clips_per_category=1, seconds=0.4)
    with pytest.raises(PrepareError, match="every item was skipped .*too short for a disjoint reference"):
        prepare_ood(trees["clean"], tmp_path / "out1", esc50=single, snrs=(5,))
    # a run that left nothing behind does not block another configuration in its folder
    assert (tmp_path / "out1" / "prepare_ood.yaml").is_file()
    result = prepare_ood(trees["clean"], tmp_path / "out1", esc50=esc, snrs=(5,))
    assert [m.written for m in result.manifests] == [len(read_manifest(tmp_path / "out" / "esc50_snr5.jsonl"))]


def test_ood_active_level_snr_and_selection(trees, tmp_path):
    prepare_ood(trees["clean"], tmp_path, esc50=trees["esc50"], snrs=(-5,), esc50_categories=("rain",),
                snr_method="active")
    manifest = assert_snrs_round_trip(tmp_path / "esc50_snr-5.jsonl")
    assert {r.noise_type for r in manifest} == {"rain"} and manifest.rows[0].extra["snr_method"] == "active"
    with pytest.raises(ConfigError, match="at least one noise corpus"):
        prepare_ood(trees["clean"], tmp_path / "x")


def _rms_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x.astype(np.float64) ** 2))


def test_nonstationary_kinds_with_synthetic_noise(tmp_path):
    clean = make_clean_dir(tmp_path / "clean", 4, seconds=1.5, speaker="p257")
    prepare_nonstationary(clean, tmp_path / "out", snrs=(5,), seed=2)
    manifest = assert_snrs_round_trip(tmp_path / "out" / "nonstationary_snr5.jsonl")
    assert sorted(r.noise_type for r in manifest) == ["concat", "events", "ramp", "step"]
    for row in manifest:
        _, noise, _ = parts(manifest, row)
        quarter = len(noise) // 4
        if row.noise_type == "ramp":
            change = _rms_db(noise[-quarter:]) - _rms_db(noise[:quarter])
            assert np.sign(change) == np.sign(row.extra["end_db"] - row.extra["start_db"]) and abs(change) > 5
        elif row.noise_type == "concat":
            categories = [s["category"] for s in row.extra["segments"]]
            assert len(categories) >= 2 and len(set(categories)) == len(categories)
        elif row.noise_type == "events":
            frames = noise[: len(noise) // 160 * 160].reshape(-1, 160)
            energy = np.mean(frames.astype(np.float64) ** 2, axis=1)
            assert 10 * np.log10(energy.max() / np.median(energy)) > 6 and len(row.extra["events"]) >= 2
        else:
            assert len(row.extra["steps"]) >= 2


def test_nonstationary_uses_real_backgrounds_and_esc50_events(trees, tmp_path):
    prepare_nonstationary(trees["clean"], tmp_path, esc50=trees["esc50"], demand=trees["demand"],
                          kinds=["events"], snrs=(0,))
    manifest = assert_snrs_round_trip(tmp_path / "nonstationary_snr0.jsonl")
    for row in manifest:
        assert row.noise_source == "demand+esc50" and row.extra["category"] in ("DKITCHEN", "STRAFFIC")
        assert {e["category"] for e in row.extra["events"]} <= {"dog", "door_wood_knock"}
    with pytest.raises(ConfigError, match="unknown kinds"):
        prepare_nonstationary(trees["clean"], tmp_path / "x", kinds=["wobble"])


@pytest.mark.parametrize("options,expected", [({"snrs": (float("nan"),)}, "snrs must be finite"),
                                              ({"snrs": (0.0, float("inf"))}, "snrs must be finite"),
                                              ({"sample_rate": 0}, "sample_rate must be positive")])
def test_impossible_mixing_options_are_refused_before_anything_is_written(tmp_path, options, expected):
    with pytest.raises(ConfigError, match=expected):
        prepare_nonstationary(tmp_path / "clean", tmp_path / "out", **options)
    with pytest.raises(ConfigError, match="seconds must exceed 0.5, got nan"):
        prepare_demo(tmp_path / "out", seed=0, config=DemoConfig(seconds=float("nan")))
    assert not (tmp_path / "out").exists()
