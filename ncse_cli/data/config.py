"""The ``data:`` section of a training run: static manifests, or dynamic mixing (plan section 2.4, Solution D).

Static::

    data:
      train: data/vbdemand_train.jsonl
      valid: data/vbdemand_valid.jsonl
      ref_seconds: 0.25

Dynamic mixing (``train`` is then the clean-speech manifest; only its ``clean`` column is used)::

    data:
      train: data/vbdemand_train.jsonl
      valid: data/vbdemand_valid.jsonl
      ref_seconds: 0.25
      dynamic:
        snr_range: [-5, 20]
        noise_pools:
          - {corpus: demand, path: /data/DEMAND, weight: 2, categories: [DKITCHEN, STRAFFIC]}
          - {corpus: esc50, path: /data/ESC-50, weight: 1, folds: [1, 2, 3, 4]}
          - {corpus: urbansound8k, path: /data/UrbanSound8K, folds: [1, 2, 3, 4, 5, 6, 7, 8, 9]}
          - {corpus: wham, path: /data/wham_noise, folds: [tr]}
          - {corpus: audioset, path: /data/audioset, folds: [balanced_train], categories: [Rain, Vehicle]}
          - {corpus: synthetic, weight: 0.5, categories: [white, pink, brown]}
          - {corpus: babble, weight: 0.5}     # several other training speakers at once
          - {corpus: mix2, weight: 0.5}       # two draws from the other pools, alpha uniform 0.3..0.7
        augment: {p_time_stretch: 0.3, p_filter: 0.3, p_concat: 0.3, gain_db: [-6, 6]}

Use :func:`data_config_from_path` to turn a ``--data`` argument (a manifest, a prepared folder or a YAML file)
into a :class:`DataConfig`, and :func:`ncse_cli.data.datasets.build_dataset` to build the datasets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional, Union

from ncse_cli.config import ConfigError, from_dict, load_yaml
from ncse_cli.data.corpora import NOISE_CORPORA
from ncse_cli.data.manifest import read_manifest

#: Pools that are not corpora on disk: speech of other training speakers, and blends of two other pools.
SPECIAL_POOLS = ("babble", "mix2")
FILE_CORPORA = ("esc50", "urbansound8k", "wham", "demand", "audioset")
#: The plan's baseline reference length.
DEFAULT_REF_SECONDS = 0.25


@dataclass
class NoisePoolConfig:
    """One weighted source of training noise.

    ``corpus``: esc50, urbansound8k, wham, demand, audioset (folders in their official layout, ``path``),
    synthetic, babble (other speakers of the clean manifest) or mix2 (two draws from the other pools).
    ``categories``: ESC-50 categories, UrbanSound8K classes, DEMAND environments, AudioSet labels or synthetic
    kinds (empty: all). ``folds``: ESC-50 folds 1-5, UrbanSound8K folds 1-10, WHAM! subsets tr/cv/tt, DEMAND
    channels ch01-ch16, AudioSet subsets balanced_train/eval/unbalanced_train.
    """

    corpus: str
    weight: float = 1.0
    path: Optional[str] = None
    categories: list[str] = field(default_factory=list)
    folds: list[Union[int, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        known = NOISE_CORPORA.names() + list(SPECIAL_POOLS)
        if self.corpus not in known:
            raise ConfigError(f"noise pool corpus {self.corpus!r} is not one of {', '.join(known)}")
        if not self.weight > 0:
            raise ConfigError(f"noise pool {self.corpus}: weight must be positive, got {self.weight}")
        if (self.corpus in FILE_CORPORA) != (self.path is not None):
            need = "needs a path" if self.corpus in FILE_CORPORA else "takes no path"
            raise ConfigError(f"noise pool {self.corpus} {need}")
        if self.corpus in SPECIAL_POOLS and (self.categories or self.folds):
            raise ConfigError(f"noise pool {self.corpus} takes no categories or folds")


@dataclass
class AugmentConfig:
    """Noise augmentation for dynamic mixing; probabilities are per example.

    ``p_concat``: build the noise from 2-3 segments of different clips of the pool, cross-faded.
    ``p_time_stretch`` / ``time_stretch``: audiomentations ``TimeStretch`` rate range.
    ``p_filter``: one of audiomentations' low-, high- or band-pass filters.
    ``p_gain_transition``: audiomentations ``GainTransition`` (a level change inside the noise).
    ``gain_db``: a level for the whole example (clean, noisy and reference together).
    """

    p_concat: float = 0.3
    p_time_stretch: float = 0.3
    time_stretch: tuple[float, float] = (0.85, 1.2)
    p_filter: float = 0.3
    p_gain_transition: float = 0.1
    gain_db: tuple[float, float] = (-6.0, 6.0)

    def __post_init__(self) -> None:
        for name in ("p_concat", "p_time_stretch", "p_filter", "p_gain_transition"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"augment.{name} must be a probability, got {getattr(self, name)}")
        low, high = self.time_stretch
        if not 0.1 <= low <= high <= 10.0:
            raise ConfigError(f"augment.time_stretch must satisfy 0.1 <= low <= high <= 10, got {self.time_stretch}")
        if self.gain_db[0] > self.gain_db[1]:
            raise ConfigError(f"augment.gain_db must be (low, high), got {self.gain_db}")


@dataclass
class DynamicMixingConfig:
    """Dynamic mixing: clean speech from ``DataConfig.train``, noise from weighted pools, SNR from a range."""

    noise_pools: list[NoisePoolConfig] = field(default_factory=lambda: [NoisePoolConfig("synthetic")])
    snr_range: tuple[float, float] = (-5.0, 20.0)
    snr_method: Literal["power", "active"] = "power"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    epoch_size: Optional[int] = None

    def __post_init__(self) -> None:
        if not self.noise_pools:
            raise ConfigError("dynamic.noise_pools: give at least one pool")
        if all(p.corpus == "mix2" for p in self.noise_pools):
            raise ConfigError("dynamic.noise_pools: mix2 blends other pools; add at least one other pool")
        if self.snr_range[0] > self.snr_range[1]:
            raise ConfigError(f"dynamic.snr_range must be (low, high), got {self.snr_range}")
        if self.epoch_size is not None and self.epoch_size < 1:
            raise ConfigError("dynamic.epoch_size must be at least 1")


@dataclass
class DataConfig:
    """What a training run reads: ``train`` (a manifest; with ``dynamic`` the clean-speech manifest), ``valid``
    (a static manifest or None), the reference length, and optionally dynamic mixing."""

    train: str
    valid: Optional[str] = None
    ref_seconds: float = DEFAULT_REF_SECONDS
    dynamic: Optional[DynamicMixingConfig] = None

    def __post_init__(self) -> None:
        if not 0 < self.ref_seconds <= 10:
            raise ConfigError(f"data.ref_seconds must be in (0, 10], got {self.ref_seconds}")


def _sibling_valid(manifest: Path) -> Optional[str]:
    """``train.jsonl -> valid.jsonl``, ``vbdemand_train.jsonl -> vbdemand_valid.jsonl`` when that file exists."""
    head, found, tail = manifest.stem.rpartition("train")
    if not found:
        return None
    candidate = manifest.with_name(f"{head}valid{tail}{manifest.suffix}")
    return str(candidate) if candidate.is_file() else None


def _resolve(path: Optional[str], base: Path) -> Optional[str]:
    if path is None:
        return None
    expanded = Path(path).expanduser()
    return str(expanded if expanded.is_absolute() else (base / expanded).resolve())


def data_config_from_path(path: str | os.PathLike) -> DataConfig:
    """A :class:`DataConfig` from what ``--data`` points at.

    * a manifest ``X_train.jsonl``: static training on it, validation on ``X_valid.jsonl`` when it exists, and
      the reference length it was prepared with (``ref_samples``; otherwise 0.25 s);
    * a folder: its ``train.jsonl`` (the demo layout) or ``vbdemand_train.jsonl``, likewise;
    * a YAML file: a data section (top-level keys, or under ``data:``), relative paths taken from the YAML's folder.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        for name in ("train.jsonl", "vbdemand_train.jsonl"):
            if (path / name).is_file():
                return data_config_from_path(path / name)
        raise ConfigError(f"{path}: no train.jsonl or vbdemand_train.jsonl in this folder")
    if not path.is_file():
        raise ConfigError(f"{path}: no such manifest, folder or data YAML")
    if path.suffix in (".yaml", ".yml"):
        raw = load_yaml(path)
        section = raw.get("data", raw) if isinstance(raw.get("data"), dict) else raw
        cfg = from_dict(DataConfig, section, "data")
        return resolve_paths(cfg, path.parent)
    return DataConfig(train=str(path.resolve()), valid=_sibling_valid(path.resolve()),
                      ref_seconds=_prepared_ref_seconds(path))


def _prepared_ref_seconds(manifest: Path) -> float:
    """The reference length a prepared manifest was made with (its rows' ``ref_samples``), else the default."""
    lengths = {row.extra.get("ref_samples", 0) / row.sample_rate for row in read_manifest(manifest)}
    return float(lengths.pop()) if len(lengths) == 1 and 0 < min(lengths) <= 10 else DEFAULT_REF_SECONDS


def resolve_paths(cfg: DataConfig, base: str | os.PathLike) -> DataConfig:
    """A copy of ``cfg`` whose relative manifest and pool paths are taken relative to ``base``."""
    base = Path(base)
    dynamic = cfg.dynamic
    if dynamic is not None:
        pools = [NoisePoolConfig(p.corpus, p.weight, _resolve(p.path, base), list(p.categories), list(p.folds))
                 for p in dynamic.noise_pools]
        dynamic = DynamicMixingConfig(pools, dynamic.snr_range, dynamic.snr_method, dynamic.augment,
                                      dynamic.epoch_size)
    return DataConfig(_resolve(cfg.train, base), _resolve(cfg.valid, base), cfg.ref_seconds, dynamic)
