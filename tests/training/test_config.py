"""The run config: defaults, recipe < flag precedence, strict keys, encoder options, resume rules, recipes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from ncse_cli.config import ConfigError, component_name, from_dict, to_dict
from ncse_cli.data.config import DataConfig
from ncse_cli.encoders import ENCODERS
from ncse_cli.training import EncoderOptions, RunConfig, TrainConfig, config_yaml, resolve_run_config
from ncse_cli.training.config import apply_encoder_options, resume_conflicts, segment_samples

RECIPES = sorted((Path(__file__).parents[2] / "recipes").glob("*.yaml"))


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_defaults_are_the_sgmse_plus_setting():
    cfg = resolve_run_config()
    assert (cfg.train.lr, cfg.train.ema_decay, cfg.train.crop_frames, cfg.train.batch_size) == (1e-4, 0.999, 256, 8)
    assert component_name(cfg.model.backbone) == "base" and component_name(cfg.sampler) == "pc"
    assert cfg.data is None


def test_round_trip_through_yaml(tmp_path):
    cfg = resolve_run_config(overrides={"model": {"backbone": "tiny"}, "train": {"trackers": ["tensorboard"]}},
                             data=DataConfig(train=str(tmp_path / "t.jsonl")))
    assert from_dict(RunConfig, yaml.safe_load(config_yaml(cfg))) == cfg


def test_flags_override_recipe_which_overrides_defaults(tmp_path):
    recipe = write(tmp_path / "r.yaml", {"model": {"encoder": {"name": "cnn", "dim": 64}},
                                         "train": {"steps": 10, "lr": 3e-4}})
    cfg = resolve_run_config(recipe, {"train": {"steps": 20}, "model": {"encoder": "cnn"}})
    assert cfg.train.steps == 20  # flag beats recipe
    assert cfg.train.lr == 3e-4  # recipe beats default
    assert cfg.model.encoder.dim == 64  # naming the same encoder keeps the recipe's options
    assert cfg.train.batch_size == TrainConfig().batch_size  # default where neither speaks


def test_changing_a_component_name_drops_its_old_options(tmp_path):
    recipe = write(tmp_path / "r.yaml", {"model": {"backbone": {"name": "base", "nf": 64}}})
    cfg = resolve_run_config(recipe, {"model": {"backbone": "tiny"}})
    assert component_name(cfg.model.backbone) == "tiny" and cfg.model.backbone.nf == 16


def test_unknown_recipe_key_names_the_recipe_and_the_key(tmp_path):
    recipe = write(tmp_path / "bad.yaml", {"train": {"stepz": 3}})
    with pytest.raises(ConfigError, match=r"bad\.yaml.*stepz"):
        resolve_run_config(recipe)


def test_unquoted_yaml_null_key_gets_a_clear_error(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model:\n  conditioning: {null: learned}\n")
    with pytest.raises(ConfigError, match=r"r\.yaml: key None in model.conditioning is not a string; quote it"):
        resolve_run_config(recipe)
    recipe.write_text("model:\n  conditioning: {'null': learned}\n")
    assert resolve_run_config(recipe).model.conditioning.null == "learned"


def test_unknown_encoder_lists_the_registered_ones():
    with pytest.raises(ConfigError, match="unknown noise encoder 'nope'.*cnn"):
        resolve_run_config(overrides={"model": {"encoder": "nope"}})


def test_recipe_data_paths_are_relative_to_the_recipe(tmp_path):
    (tmp_path / "sub").mkdir()
    recipe = write(tmp_path / "sub" / "r.yaml", {"data": {"train": "data/train.jsonl"}})
    assert resolve_run_config(recipe).data.train == str(tmp_path / "sub" / "data" / "train.jsonl")


def test_data_flag_replaces_the_whole_data_section(tmp_path):
    recipe = write(tmp_path / "r.yaml", {"data": {"train": "a.jsonl", "valid": "b.jsonl", "ref_seconds": 1.0}})
    cfg = resolve_run_config(recipe, data=DataConfig(train="/x/train.jsonl"))
    assert cfg.data == DataConfig(train="/x/train.jsonl")


@pytest.mark.parametrize("train, match", [({"steps": 0}, "train.steps"), ({"p_uncond": 1.5}, "p_uncond"),
                                          ({"ema_decay": 1.0}, "ema_decay"), ({"mixed_precision": "fp8"}, "fp8"),
                                          ({"trackers": ["mlflow"]}, "mlflow")])
def test_invalid_train_values_are_refused(train, match):
    with pytest.raises(ConfigError, match=match):
        resolve_run_config(overrides={"train": train})


def test_segment_samples_gives_crop_frames_centred_frames():
    cfg = resolve_run_config(overrides={"train": {"crop_frames": 64}})
    hop = cfg.model.stft.hop_length
    assert segment_samples(cfg) == 63 * hop
    assert 1 + segment_samples(cfg) // hop == 64  # Spectrogram: T = 1 + L // hop


def test_encoder_options_refused_where_they_do_not_apply():
    cfg = resolve_run_config(overrides={"model": {"encoder": "cnn"}})
    with pytest.raises(ConfigError, match="--freeze-encoder/--finetune-encoder does not apply to encoder cnn"):
        apply_encoder_options(cfg, EncoderOptions(freeze=False))
    with pytest.raises(ConfigError, match="--encoder-lr does not apply to encoder cnn"):
        apply_encoder_options(cfg, EncoderOptions(lr=1e-5))
    with pytest.raises(ConfigError, match="--clap-ckpt does not apply to encoder cnn"):
        apply_encoder_options(cfg, EncoderOptions(ckpt=Path("x.pt"), ckpt_for="clap"))
    panns = resolve_run_config(overrides={"model": {"encoder": "panns"}})
    with pytest.raises(ConfigError, match="--clap-ckpt does not apply to encoder panns"):
        apply_encoder_options(panns, EncoderOptions(ckpt=Path("x.pt"), ckpt_for="clap"))
    assert apply_encoder_options(cfg, EncoderOptions()) == cfg


def test_clap_checkpoint_flag_serves_every_clap_tower(tmp_path):
    """--clap-ckpt belongs to the CLAP tower family: clap and clap-sequence alike."""
    for name in ("clap", "clap-sequence"):
        cfg = resolve_run_config(overrides={"model": {"encoder": name}})
        cfg = apply_encoder_options(cfg, EncoderOptions(ckpt=tmp_path / "630k.pt", ckpt_for="clap"))
        assert cfg.model.encoder.ckpt == str(tmp_path / "630k.pt")


@pytest.mark.skipif("clap" not in ENCODERS, reason="the clap encoder is not registered")
def test_encoder_options_set_the_pretrained_encoder_fields(tmp_path):
    options = EncoderOptions(ckpt=tmp_path / "630k.pt", ckpt_for="clap", freeze=False, lr=1e-5)
    cfg = resolve_run_config(overrides={"model": {"encoder": "clap"}, "train": {"p_uncond": 0.2}},
                             encoder_options=options)
    assert (cfg.model.encoder.ckpt, cfg.model.encoder.freeze, cfg.model.encoder.lr) == (str(tmp_path / "630k.pt"),
                                                                                         False, 1e-5)


def test_resume_conflicts_ignore_schedule_keys_only():
    cfg = resolve_run_config()
    longer = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=99, val_every=7, trackers=()))
    assert resume_conflicts(cfg, longer) == []
    other = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, lr=1e-3, p_uncond=0.5))
    assert resume_conflicts(cfg, other) == ["train.lr", "train.p_uncond"]


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.name for r in RECIPES])
def test_every_recipe_loads_through_the_real_config_path(recipe):
    cfg = resolve_run_config(recipe)
    assert to_dict(cfg)  # every section resolves
    assert cfg.model.backbone.freq_bins == cfg.model.stft.freq_bins


def test_the_plan_recipes_say_what_the_plan_says():
    by_name = {r.stem: resolve_run_config(r) for r in RECIPES}
    assert by_name["cfg_p0.1"].train.p_uncond == 0.1 and by_name["cfg_p0.2"].train.p_uncond == 0.2
    assert component_name(by_name["uncond_baseline"].model.encoder) == "none"
    assert component_name(by_name["nc_baseline"].model.encoder) == "cnn"
    assert by_name["nc_baseline"].train.p_uncond == 0.0
    base = by_name["sgmse_base"].train
    assert (base.crop_frames, base.batch_size, base.lr, base.ema_decay) == (256, 8, 1e-4, 0.999)
    tiny = by_name["tiny"]
    assert component_name(tiny.model.backbone) == "tiny" and tiny.train.crop_frames < 256
    for name, encoder, freeze, p_uncond in [("clap_01", "clap", True, 0.0), ("clap_02", "clap", False, 0.0),
                                            ("clap_cfg", "clap", True, 0.2), ("panns_01", "panns", True, 0.0),
                                            ("comb_03", "clap-sequence", True, 0.2)]:
        cfg = by_name[name]
        assert (component_name(cfg.model.encoder), cfg.model.encoder.freeze, cfg.train.p_uncond) == \
            (encoder, freeze, p_uncond), name
    assert by_name["clap_02"].model.encoder.lr == 1e-5
    assert component_name(by_name["xattn_03"].model.encoder) == "cnn"  # the global-pool baseline of XAttn-01
    comb = by_name["comb_03"]
    assert comb.data.dynamic is not None and comb.data.ref_seconds == 2.0
    assert {p.corpus for p in comb.data.dynamic.noise_pools} == {"demand", "esc50", "urbansound8k", "wham",
                                                                 "synthetic", "babble", "mix2"}
    assert 5 not in next(p for p in comb.data.dynamic.noise_pools if p.corpus == "esc50").folds  # OOD fold kept out
