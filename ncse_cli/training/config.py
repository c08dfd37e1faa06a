"""The run config: model, data, training and sampler sections, resolved as defaults < recipe < flags.

A run directory's ``config.yaml`` is :func:`~ncse_cli.config.to_dict` of a :class:`RunConfig`. The training
defaults follow SGMSE+ (Richter et al., TASLP 2023, Sec. V): Adam at 1e-4, an exponential moving average of the
weights with decay 0.999, random crops of 256 spectrogram frames, batch 8.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Optional

import yaml

from ncse_cli.config import (ConfigError, component_field, component_name, flat_config, from_dict, load_yaml,
                             merge, to_dict)
from ncse_cli.data.config import DataConfig, resolve_paths
from ncse_cli.encoders import ENCODERS
from ncse_cli.model import ModelConfig, upgrade_model_section
from ncse_cli.sampling import SAMPLERS, check_sampler

MixedPrecision = Literal["no", "bf16", "fp16"]
Tracker = Literal["tensorboard", "wandb"]

#: ``train`` keys that may differ when resuming: they change how long the run goes and what it logs, not the
#: weights a given step produces.
RESUMABLE_KEYS = frozenset({"steps", "log_every", "val_every", "val_items", "val_utterances", "val_steps",
                            "save_every", "keep_checkpoints", "trackers", "num_workers", "init_from"})


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, EMA, cropping, CFG dropout, precision, validation, checkpoint and logging settings.

    ``grad_clip`` bounds the global gradient norm; ``None`` (the default, as SGMSE+ trains) disables clipping but
    the norm is still logged. ``l1_weight`` weighs the waveform term of the data-prediction loss (SGMSE+'s
    ``l1_weight``, 0.001); score matching ignores it. ``ema_warmup`` uses
    ``min(ema_decay, (1 + n) / (10 + n))`` after ``n`` updates, as the ``torch_ema`` package SGMSE+ relies on
    does, so short runs do not export weights that are mostly the initialisation.
    """

    steps: int = 50_000  #: optimizer steps
    batch_size: int = 8  #: examples per process and micro-batch
    grad_accum: int = 1  #: micro-batches per optimizer step
    lr: float = 1e-4
    ema_decay: float = 0.999
    ema_warmup: bool = True
    grad_clip: float | None = None
    l1_weight: float = 0.001
    #: A model (workspace name or directory) whose weights start this run; the new conditioning path starts at
    #: zero effect, so step 0 reproduces that model's score (:mod:`ncse_cli.warmstart`).
    init_from: Optional[str] = None
    crop_frames: int = 256  #: random training crops, in spectrogram frames
    p_uncond: float = 0.0  #: classifier-free-guidance condition dropout (Ho & Salimans 2022)
    num_workers: int = 4  #: data-loader worker processes per training process (at most the CPUs available)
    seed: int = 0
    mixed_precision: MixedPrecision = "no"
    log_every: int = 50
    val_every: int = 1000
    val_items: int = 256  #: validation examples scored for the validation loss
    val_utterances: int = 4  #: validation examples enhanced for SI-SDR
    val_steps: int = 10  #: sampler steps for the validation enhancements
    save_every: int = 1000
    keep_checkpoints: int = 3
    trackers: tuple[Tracker, ...] = ()  #: besides train_log.csv, which is always written

    def __post_init__(self) -> None:
        positive = ("steps", "batch_size", "grad_accum", "crop_frames", "log_every", "val_every", "val_steps",
                    "save_every", "keep_checkpoints")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be at least 1, got {getattr(self, name)}")
        for name in ("num_workers", "val_items", "val_utterances"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must not be negative, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ConfigError(f"train.lr must be positive, got {self.lr}")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"train.ema_decay must lie in [0, 1), got {self.ema_decay}")
        if not 0 <= self.p_uncond <= 1:
            raise ConfigError(f"train.p_uncond must lie in [0, 1], got {self.p_uncond}")
        if not self.l1_weight >= 0:
            raise ConfigError(f"train.l1_weight must not be negative, got {self.l1_weight}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"train.grad_clip must be positive or null, got {self.grad_clip}")


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs; saved as the run directory's ``config.yaml``."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: Optional[DataConfig] = None  #: required to train; ``--data`` or the recipe's ``data:`` section
    train: TrainConfig = field(default_factory=TrainConfig)
    sampler: Any = component_field(SAMPLERS, lambda: SAMPLERS.get("pc").Config())


@dataclass(frozen=True)
class EncoderOptions:
    """Encoder settings given as flags; each maps onto the chosen encoder's config field of the same name."""

    ckpt: Path | None = None  #: a local checkpoint file of a pre-trained tower
    ckpt_for: str | None = None  #: the tower family of the checkpoint flag (``--clap-ckpt``: clap)
    freeze: bool | None = None
    lr: float | None = None

    @classmethod
    def from_flags(cls, clap_ckpt: str | os.PathLike | None = None, panns_ckpt: str | os.PathLike | None = None,
                   freeze: bool | None = None, lr: float | None = None) -> "EncoderOptions":
        """The options of ``--clap-ckpt`` / ``--panns-ckpt``, ``--freeze-encoder/--finetune-encoder`` and
        ``--encoder-lr`` (``None``: not given)."""
        if clap_ckpt is not None and panns_ckpt is not None:
            raise ConfigError("give --clap-ckpt or --panns-ckpt, not both")
        ckpt_for = "clap" if clap_ckpt is not None else "panns" if panns_ckpt is not None else None
        ckpt = clap_ckpt if clap_ckpt is not None else panns_ckpt
        return cls(ckpt=None if ckpt is None else Path(ckpt), ckpt_for=ckpt_for, freeze=freeze, lr=lr)

    def flag(self, name: str) -> str:
        """The command-line spelling of option ``name`` (for error messages)."""
        return {"ckpt": f"--{self.ckpt_for}-ckpt", "freeze": "--freeze-encoder/--finetune-encoder",
                "lr": "--encoder-lr"}[name]


def resolve_run_config(recipe: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None, *,
                       data: DataConfig | None = None, encoder_options: EncoderOptions | None = None,
                       base: Mapping[str, Any] | None = None) -> RunConfig:
    """Built-in defaults (or ``base``, a saved run's config) < ``recipe`` YAML < ``overrides`` < ``data`` <
    encoder options.

    ``overrides`` is nested (see :func:`ncse_cli.config.dotted`); a component given by name alone
    (``{"model": {"encoder": "cnn"}}``) keeps the recipe's options when the name is unchanged. ``data`` (from
    ``--data``) replaces the whole data section. Relative data paths in a recipe are taken from the recipe's
    folder. Every stage is validated, so an error names the recipe file when the recipe is at fault.
    """
    tree = dict(base) if base is not None else to_dict(RunConfig())
    if recipe is not None:
        try:
            tree = merge(tree, recipe_tree(Path(recipe)))
            cfg = from_dict(RunConfig, tree)
        except ConfigError as err:
            raise ConfigError(err if str(err).startswith(str(recipe)) else f"{recipe}: {err}") from None
        tree = to_dict(cfg)
    tree = merge(tree, _normalise(dict(overrides or {})))
    if data is not None:
        tree["data"] = to_dict(data)
    cfg = from_dict(RunConfig, tree)
    if encoder_options is not None:
        cfg = apply_encoder_options(cfg, encoder_options)
    check_sampler(cfg.sampler, cfg.model.sde)
    return cfg


def recipe_tree(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A recipe's settings as a nested dict. ``extends: other.yaml`` (relative to the recipe's folder) starts
    from another recipe's settings, which this one then overrides; data paths are taken from each file's folder."""
    resolved = path.resolve()
    if resolved in chain:
        raise ConfigError(f"{path}: 'extends' loops back to itself ({' -> '.join(p.name for p in (*chain, resolved))})")
    data = _normalise(load_yaml(path))
    parent = data.pop("extends", None)
    if isinstance(data.get("data"), Mapping):
        try:
            data["data"] = to_dict(resolve_paths(from_dict(DataConfig, data["data"], "data"), path.parent))
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(f"{path}: 'extends' must name a recipe file, got {parent!r}")
    parent_path = path.parent / parent
    if not parent_path.is_file():
        raise ConfigError(f"{path}: extends {parent!r}, which is not a file ({parent_path})")
    return merge(recipe_tree(parent_path, (*chain, resolved)), data)


def _normalise(data: Mapping[str, Any], path: str = "") -> dict[str, Any]:
    """Components given by name alone become ``{"name": ...}`` so that merging keeps their other options.

    YAML reads unquoted ``null:``, ``yes:`` or ``1:`` keys as non-strings; they are refused with a hint.
    """
    out: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            where = f" in {path}" if path else ""
            raise ConfigError(f"key {key!r}{where} is not a string; quote it in YAML (e.g. 'null': learned)")
        if isinstance(value, Mapping):
            value = _normalise(value, f"{path}.{key}" if path else key)
        elif isinstance(value, str) and key in _COMPONENT_KEYS:
            value = {"name": value}
        out[key] = value
    return out


_COMPONENT_KEYS = frozenset({"encoder", "backbone", "sde", "sampler"})


def apply_encoder_options(cfg: RunConfig, options: EncoderOptions) -> RunConfig:
    """Set ``ckpt`` / ``freeze`` / ``lr`` on the run's encoder config, refusing options it does not have."""
    encoder = cfg.model.encoder
    name = component_name(encoder)
    fields = {f.name for f in dataclasses.fields(encoder)}
    weights = getattr(ENCODERS.get(name), "weights", None)  # the official checkpoint family of a tower
    if options.ckpt is not None and getattr(weights, "flag", None) != options.flag("ckpt"):
        raise ConfigError(f"{options.flag('ckpt')} does not apply to encoder {name}")
    values = {"ckpt": None if options.ckpt is None else str(options.ckpt), "freeze": options.freeze,
              "lr": options.lr}
    changes = {key: value for key, value in values.items() if value is not None}
    for key in changes:
        if key not in fields:
            raise ConfigError(f"{options.flag(key)} does not apply to encoder {name}")
    if not changes:
        return cfg
    current = {k: v for k, v in to_dict(encoder).items() if k != "name"}
    new_encoder = from_dict(ENCODERS.get(name).Config, {**current, **changes}, "model.encoder")
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, encoder=new_encoder))


def load_run_config(path: str | os.PathLike, saved: bool = False) -> RunConfig:
    """A run config from a YAML file, strictly: a recipe, or with ``saved`` a run directory's ``config.yaml``
    (whose model section may be of an older layout: :func:`~ncse_cli.model.upgrade_model_section`)."""
    try:
        data = load_yaml(path)
        if saved and isinstance(data.get("model"), Mapping):
            data = {**data, "model": upgrade_model_section(data["model"])}
        return from_dict(RunConfig, data)
    except ConfigError as err:
        if str(err).startswith(str(path)):
            raise
        raise ConfigError(f"{path}: {err}") from None


class _RecipeDumper(yaml.SafeDumper):
    """Block-style mappings with one-line lists (``ch_mult: [1, 2, 2]``), the way recipes are written."""


_RecipeDumper.add_representer(
    list, lambda dumper, value: dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True))


def config_yaml(cfg: RunConfig) -> str:
    """The resolved config as YAML text, usable as a recipe (what ``--dry-run`` prints)."""
    return yaml.dump(to_dict(cfg), Dumper=_RecipeDumper, sort_keys=False, width=10_000)


def resume_conflicts(saved: RunConfig, new: RunConfig) -> list[str]:
    """Dotted keys whose values differ between a run's saved config and a resume request (harmless ones aside)."""
    old_flat, new_flat = flat_config(to_dict(saved)), flat_config(to_dict(new))
    allowed = {f"train.{key}" for key in RESUMABLE_KEYS}
    keys = sorted(set(old_flat) | set(new_flat))
    return [key for key in keys if key not in allowed and old_flat.get(key) != new_flat.get(key)]


def segment_samples(cfg: RunConfig) -> int:
    """Waveform samples of a training crop of ``train.crop_frames`` centred STFT frames (SGMSE+'s rule)."""
    return (cfg.train.crop_frames - 1) * cfg.model.stft.hop_length
