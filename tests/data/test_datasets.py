"""Training datasets and their configuration: the item contract, seeded crops and mixtures that do not depend on
workers, dynamic mixing from every pool kind, and strict configs."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from torch.utils.data import DataLoader

from ncse_cli.config import ConfigError, from_dict, save_yaml
from ncse_cli.data.augment import augment_noise, stream_length
from ncse_cli.data.config import AugmentConfig, DataConfig, NoisePoolConfig, data_config_from_path
from ncse_cli.data.corpora import index_clean
from ncse_cli.data.datasets import DynamicMixingDataset, ManifestDataset, build_dataset
from ncse_cli.data.manifest import ManifestError
from ncse_cli.data.mixing import MixingError, snr_db
from ncse_cli.data.pools import BabblePool, MixPool, build_pools
from ncse_cli.data.prepare import DemoConfig, prepare_demo
from tests.dummies import make_esc50_tree, make_manifest, noise, read_wav

SR = 16000
KEYS = {"id", "clean", "noisy", "noise_ref", "noise_ref_length", "ref_key"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    prepare_demo(out, seed=0, config=DemoConfig(num_train=6, num_valid=2, num_test=1, seconds=1.0,
                                                ref_seconds=0.5, num_talkers=8))
    return out


def dynamic_config(demo, trees, **augment) -> DataConfig:
    pools = [{"corpus": "esc50", "path": str(trees["esc50"])}, {"corpus": "demand", "path": str(trees["demand"])},
             {"corpus": "wham", "path": str(trees["wham"]), "folds": ["tr"]},
             {"corpus": "urbansound8k", "path": str(trees["urbansound"]), "folds": [1]},
             {"corpus": "synthetic", "categories": ["white", "hum"]}, {"corpus": "babble"}, {"corpus": "mix2"}]
    return from_dict(DataConfig, {"train": str(demo / "train.jsonl"), "ref_seconds": 0.25, "dynamic": {
        "noise_pools": pools, "snr_range": [0, 10], "epoch_size": 12,
        "augment": {"p_concat": 0.5, "p_time_stretch": 0.5, "p_filter": 0.5, "p_gain_transition": 0.5,
                    **augment}}})


def test_manifest_dataset_contract_and_collate(demo):
    ds = build_dataset(data_config_from_path(demo), "train", 8000, SR, seed=1)
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert set(batch) == KEYS
    assert batch["clean"].shape == batch["noisy"].shape == (3, 8000) and batch["clean"].dtype == torch.float32
    assert batch["noise_ref"].shape == (3, 8000) and batch["noise_ref_length"].tolist() == [8000] * 3
    assert all(key.endswith("+8000@16000") and "noise_ref/train_" in key for key in batch["ref_key"])


def test_manifest_crops_depend_on_seed_epoch_and_index_only(demo):
    ds = ManifestDataset(demo / "train.jsonl", 4000, 2000, SR, seed=5)
    first = [ds[i] for i in range(len(ds))]
    again = ManifestDataset(demo / "train.jsonl", 4000, 2000, SR, seed=5)
    for i in reversed(range(len(ds))):  # order (hence worker) does not matter
        assert torch.equal(again[i]["noisy"], first[i]["noisy"]) and again[i]["ref_key"] == first[i]["ref_key"]
    ds.set_epoch(1)
    assert any(not torch.equal(ds[i]["noisy"], first[i]["noisy"]) for i in range(len(ds)))
    row, crop = ds.manifest.rows[0], first[0]  # clean and noisy are cut at the same place
    clean, noisy = read_wav(ds.manifest.resolve(row.clean)), read_wav(ds.manifest.resolve(row.noisy))
    windows = np.lib.stride_tricks.sliding_window_view(clean, 4000)
    start = int(np.flatnonzero(np.all(windows == crop["clean"].numpy(), axis=1))[0])
    assert np.array_equal(crop["noisy"].numpy(), noisy[start:start + 4000])


def test_short_utterances_and_references_are_padded_and_missing_references_are_empty(tmp_path):
    manifest = make_manifest(tmp_path, 2, seconds=0.5, ref_seconds=0.1)
    item = ManifestDataset(manifest, SR, SR // 4, SR, random_crop=False)[0]
    assert item["clean"].shape == (SR,) and torch.all(item["clean"][SR // 2:] == 0)
    assert item["noise_ref_length"] == SR // 10 and torch.all(item["noise_ref"][SR // 10:] == 0)
    bare = make_manifest(tmp_path / "bare", 1, with_ref=False)
    item = ManifestDataset(bare, 4000, 1000, SR)[0]
    assert item["noise_ref_length"] == 0 and item["ref_key"] == "" and not torch.any(item["noise_ref"])
    whole = ManifestDataset(manifest, None, 1000, SR)[1]
    assert whole["clean"].shape == (SR // 2,)
    with pytest.raises(ManifestError, match="has no clean audio"):
        ManifestDataset(make_manifest(tmp_path / "nc", 1, with_clean=False), 4000, 1000, SR)


def test_manifest_at_another_rate_is_resampled(tmp_path):
    manifest = make_manifest(tmp_path, 1, sample_rate=8000, seconds=1.0)
    item = ManifestDataset(manifest, None, 4000, SR, random_crop=False)[0]
    assert item["clean"].shape == (SR,)


def test_validation_is_deterministic_and_needs_a_manifest(demo):
    cfg = data_config_from_path(demo / "train.jsonl")
    assert cfg.valid == str(demo / "valid.jsonl") and cfg.ref_seconds == 0.5
    valid = build_dataset(cfg, "valid", 8000, SR, seed=1)
    assert torch.equal(valid[0]["noisy"], build_dataset(cfg, "valid", 8000, SR, seed=2)[0]["noisy"])
    with pytest.raises(ConfigError, match="no validation manifest"):
        build_dataset(DataConfig(train=cfg.train), "valid", 8000, SR)


def test_dynamic_mixing_items_mix_at_the_drawn_snr_with_a_matching_reference(demo, trees):
    ds = build_dataset(dynamic_config(demo, trees), "train", 8000, SR, seed=0)
    assert isinstance(ds, DynamicMixingDataset) and len(ds) == 12
    for i in range(len(ds)):
        item = ds[i]
        assert set(item) == KEYS and item["ref_key"] == "" and item["noise_ref_length"] == 4000
        clean, noise = item["clean"].numpy(), (item["noisy"] - item["clean"]).numpy()
        assert item["clean"].shape == (8000,) and item["noise_ref"].shape == (4000,)
        if np.any(clean):
            assert -0.01 <= snr_db(clean, noise) <= 10.01
        assert np.all(np.isfinite(item["noise_ref"].numpy())) and torch.any(item["noise_ref"] != 0)


def test_dynamic_mixing_is_reproducible_whatever_the_order_or_workers(demo, trees):
    cfg = dynamic_config(demo, trees)
    ds = build_dataset(cfg, "train", 8000, SR, seed=7)
    forward = [ds[i] for i in range(len(ds))]
    state = random.getstate(), np.random.get_state()[1].copy()
    other = build_dataset(cfg, "train", 8000, SR, seed=7)
    for i in reversed(range(len(ds))):
        assert torch.equal(other[i]["noisy"], forward[i]["noisy"])
        assert torch.equal(other[i]["noise_ref"], forward[i]["noise_ref"])
    assert random.getstate() == state[0] and np.array_equal(np.random.get_state()[1], state[1])
    ds.set_epoch(1)
    assert not torch.equal(ds[0]["noisy"], forward[0]["noisy"])
    assert not torch.equal(build_dataset(cfg, "train", 8000, SR, seed=8)[0]["noisy"], forward[0]["noisy"])


@pytest.mark.slow
@pytest.mark.xdist_group("forkserver")
def test_dynamic_mixing_with_dataloader_workers(demo, trees):
    ds = build_dataset(dynamic_config(demo, trees), "train", 4000, SR, seed=3)
    serial = list(DataLoader(ds, batch_size=4))
    parallel = list(DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context="forkserver"))
    for a, b in zip(serial, parallel):
        assert a["id"] == b["id"] and torch.equal(a["noisy"], b["noisy"])


def _esc50_only(demo, esc50) -> DataConfig:
    return from_dict(DataConfig, {"train": str(demo / "train.jsonl"), "ref_seconds": 0.25, "dynamic": {
        "noise_pools": [{"corpus": "esc50", "path": str(esc50)}], "snr_range": [0, 10], "epoch_size": 6}})


def test_dynamic_mixing_redraws_past_silent_clips_and_names_the_cause_when_all_are(demo, tmp_path):
    esc50 = make_esc50_tree(tmp_path / "esc50", categories=("rain", "dog"), clips_per_category=1)
    silent = sorted((esc50 / "audio").glob("*.wav"))[0]
    sf.write(silent, np.zeros(44100, dtype=np.float32), 44100, subtype="PCM_16")
    ds = build_dataset(_esc50_only(demo, esc50), "train", 4000, SR, seed=0)
    for i in range(len(ds)):
        assert torch.any(ds[i]["noise_ref"] != 0) and torch.any(ds[i]["noisy"] != ds[i]["clean"])
    for wav in (esc50 / "audio").glob("*.wav"):
        sf.write(wav, np.zeros(44100, dtype=np.float32), 44100, subtype="PCM_16")
    with pytest.raises(MixingError, match="unusable .*silent or shorter than 50 ms"):
        build_dataset(_esc50_only(demo, esc50), "train", 4000, SR, seed=0)[0]


def test_pools_babble_and_two_noise_mixtures(demo, trees):
    clean = index_clean(demo / "train.jsonl")
    rng = np.random.default_rng(0)
    babble, label = BabblePool(clean).stream(4000, SR, rng, 0.0, avoid_speaker=clean[0].speaker)
    assert label == "babble" and babble.shape == (4000,)
    pools = build_pools(dynamic_config(demo, trees).dynamic, clean)
    assert [p.name for _, p in pools] == ["esc50", "demand", "wham", "urbansound8k", "synthetic", "babble", "mix2"]
    mix, label = MixPool(pools[:2]).stream(4000, SR, rng, 0.0)
    assert "+" in label and mix.shape == (4000,)
    concat, label = pools[4][1].stream(8000, SR, np.random.default_rng(1), 1.0)
    assert "+" in label and concat.shape == (8000,)
    with pytest.raises(ConfigError, match="at least 4 speakers"):
        BabblePool(clean[:1])


def test_augmentation_is_seeded_keeps_length_and_global_state():
    cfg = AugmentConfig(p_concat=0.0, p_time_stretch=1.0, time_stretch=(1.1, 1.2), p_filter=1.0,
                        p_gain_transition=1.0)
    stream = noise(1.0, SR, seed=1, kind="white")[: stream_length(cfg, 8000)]
    state = random.getstate()
    a = augment_noise(stream, SR, cfg, np.random.default_rng(3), 8000)
    b = augment_noise(stream, SR, cfg, np.random.default_rng(3), 8000)
    assert a.shape == (8000,) and np.array_equal(a, b) and not np.allclose(a, stream[:8000])
    assert random.getstate() == state


def test_data_config_is_strict_and_loads_from_yaml(tmp_path, demo):
    with pytest.raises(ConfigError, match="unknown key in data.dynamic: snr"):
        from_dict(DataConfig, {"train": "x.jsonl", "dynamic": {"snr": [0, 5]}}, "data")
    with pytest.raises(ConfigError, match="noise pool esc50 needs a path"):
        from_dict(NoisePoolConfig, {"corpus": "esc50"})
    with pytest.raises(ConfigError, match="noise pool corpus 'freesound' is not one of"):
        from_dict(NoisePoolConfig, {"corpus": "freesound"})
    with pytest.raises(ConfigError, match="mix2 blends other pools"):
        from_dict(DataConfig, {"train": "x", "dynamic": {"noise_pools": [{"corpus": "mix2"}]}})
    (tmp_path / "sub").mkdir()
    save_yaml({"data": {"train": "../t.jsonl", "dynamic": {"noise_pools": [{"corpus": "wham", "path": "w"}]}}},
              tmp_path / "sub" / "recipe.yaml")
    cfg = data_config_from_path(tmp_path / "sub" / "recipe.yaml")
    assert cfg.train == str(tmp_path / "t.jsonl") and cfg.dynamic.noise_pools[0].path == str(tmp_path / "sub" / "w")
    assert data_config_from_path(demo).train == str(demo / "train.jsonl")
    with pytest.raises(ConfigError, match="no train.jsonl"):
        data_config_from_path(tmp_path)


def test_readme_dynamic_mixing_example_is_a_valid_data_config():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text().split("## Data", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", readme, re.S).group(1)
    cfg = from_dict(DataConfig, yaml.safe_load(block)["data"], "data")
    assert [p.corpus for p in cfg.dynamic.noise_pools] == ["demand", "esc50", "urbansound8k", "wham", "audioset",
                                                           "synthetic", "babble", "mix2"]
