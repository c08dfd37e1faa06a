"""Training datasets: static manifests and dynamic mixing, with one item contract.

Every item is a dict::

    id                str               the row id (dynamic mixing: "<clean id>@<epoch>:<index>")
    clean, noisy      FloatTensor[S]    S = segment_samples, at the model sample rate, not normalised
    noise_ref         FloatTensor[R]    R = ref_samples, zero-padded after noise_ref_length valid samples
    noise_ref_length  int               valid reference samples (0: no reference, condition on nothing)
    ref_key           str               file and segment of the reference, for caching a frozen encoder's
                                        embedding; "" when the reference never repeats (dynamic mixing)

so PyTorch's default collate stacks a batch. Randomness (crops, draws) comes from ``(seed, epoch, index)`` only,
never from the worker: call ``set_epoch(epoch)`` before each epoch (like ``DistributedSampler``) and the same
items come out whatever ``num_workers`` is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ncse_cli.audio import AudioError, load_audio
from ncse_cli.config import ConfigError
from ncse_cli.data.augment import augment_noise, example_gain, stream_length
from ncse_cli.data.config import DataConfig, DynamicMixingConfig
from ncse_cli.data.corpora import CleanUtterance, index_clean
from ncse_cli.data.manifest import Manifest, ManifestError, read_manifest
from ncse_cli.data.mixing import MixingError, mix_at_snr, signal_power
from ncse_cli.data.noise import SkipItem, disjoint_segments
from ncse_cli.data.pools import NoisePool, build_pools
from ncse_cli.data.seeding import item_rng

#: Noise level used when a clean crop is digital silence (no SNR is defined; the model must output silence).
SILENT_CLEAN_NOISE_RMS = 0.05
MAX_NOISE_DRAWS = 8


def crop_or_pad(x: np.ndarray, length: int | None, rng: np.random.Generator | None) -> tuple[np.ndarray, int, int]:
    """(segment, start, valid): a random (``rng``) or leading crop of ``length``, zero-padded when ``x`` is
    shorter; ``length=None`` keeps everything."""
    if length is None:
        return x, 0, len(x)
    if len(x) >= length:
        start = int(rng.integers(0, len(x) - length + 1)) if rng is not None else 0
        return x[start:start + length], start, length
    return np.pad(x, (0, length - len(x))), 0, len(x)


def _item(key: str, clean: np.ndarray, noisy: np.ndarray, ref: np.ndarray, ref_length: int,
          ref_key: str) -> dict[str, Any]:
    return {"id": key, "clean": torch.from_numpy(np.ascontiguousarray(clean, dtype=np.float32)),
            "noisy": torch.from_numpy(np.ascontiguousarray(noisy, dtype=np.float32)),
            "noise_ref": torch.from_numpy(np.ascontiguousarray(ref, dtype=np.float32)),
            "noise_ref_length": int(ref_length), "ref_key": ref_key}


class _Epoch:
    """``set_epoch`` for the datasets."""

    epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random crops and draws ``__getitem__`` returns."""
        self.epoch = int(epoch)


class ManifestDataset(_Epoch, Dataset):
    """A static manifest: clean/noisy crops of ``segment_samples`` (random when ``random_crop``, else leading;
    zero-padded when short; ``None`` keeps whole utterances, batch size 1 then) and the row's reference cropped
    or padded to ``ref_samples``. Files at another rate are resampled with the toolkit's fixed resampler."""

    def __init__(self, manifest: Manifest | str | os.PathLike, segment_samples: int | None, ref_samples: int,
                 sample_rate: int, seed: int = 0, random_crop: bool = True) -> None:
        self.manifest = manifest if isinstance(manifest, Manifest) else read_manifest(manifest)
        missing = [row.id for row in self.manifest if row.clean is None]
        if missing:
            raise ManifestError(f"{self.manifest.path}: row {missing[0]} has no clean audio, needed for training")
        self.segment_samples, self.ref_samples = segment_samples, ref_samples
        self.sample_rate, self.seed, self.random_crop = sample_rate, seed, random_crop

    def __len__(self) -> int:
        return len(self.manifest)

    def _load(self, relative: str) -> np.ndarray:
        return load_audio(self.manifest.resolve(relative), self.sample_rate, resample=True).samples

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.manifest.rows[index]
        rng = item_rng(self.seed, "crop", self.epoch, index) if self.random_crop else None
        clean, noisy = self._load(row.clean), self._load(row.noisy)
        if len(clean) != len(noisy):
            raise AudioError(f"{self.manifest.resolve(row.noisy)}: {len(noisy)} samples but clean has {len(clean)}")
        clean_seg, start, _ = crop_or_pad(clean, self.segment_samples, rng)
        noisy_seg, _, _ = crop_or_pad(noisy[start:], len(clean_seg), None)
        if row.noise_ref is None:
            return _item(row.id, clean_seg, noisy_seg, np.zeros(self.ref_samples, np.float32), 0, "")
        ref, ref_start, valid = crop_or_pad(self._load(row.noise_ref), self.ref_samples, rng)
        ref_key = f"{self.manifest.resolve(row.noise_ref)}#{ref_start}+{valid}@{self.sample_rate}"
        return _item(row.id, clean_seg, noisy_seg, ref, valid, ref_key)


class DynamicMixingDataset(_Epoch, Dataset):
    """Dynamic mixing (plan section 2.4, Solution D): clean speech from a manifest, noise from weighted pools,
    augmented (:mod:`ncse_cli.data.augment`), SNR uniform in ``snr_range``; the reference is a disjoint segment
    of the same augmented noise stream, brought to the mixture's noise level."""

    def __init__(self, clean: Sequence[CleanUtterance], pools: Sequence[tuple[float, NoisePool]],
                 cfg: DynamicMixingConfig, segment_samples: int, ref_samples: int, sample_rate: int,
                 seed: int = 0) -> None:
        if not clean:
            raise ConfigError("dynamic mixing needs at least one clean utterance")
        self.clean, self.pools, self.cfg = list(clean), list(pools), cfg
        weights = np.array([w for w, _ in self.pools], dtype=np.float64)
        self.probabilities = weights / weights.sum()
        self.segment_samples, self.ref_samples = segment_samples, ref_samples
        self.sample_rate, self.seed = sample_rate, seed
        self._order: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.cfg.epoch_size or len(self.clean)

    def _clean_index(self, index: int) -> int:
        if self._order is None or self._order[0] != self.epoch:
            self._order = (self.epoch, item_rng(self.seed, "order", self.epoch).permutation(len(self.clean)))
        return int(self._order[1][index % len(self.clean)])

    def _noise(self, rng: np.random.Generator, speaker: str) -> tuple[np.ndarray, np.ndarray]:
        """Mixture noise and its disjoint reference; a draw that is silent, or whose clip is unusable (silent or
        too short after trimming, :class:`SkipItem`), is replaced by another draw."""
        seg, ref = self.segment_samples, self.ref_samples
        total = seg + ref + int(rng.integers(0, self.sample_rate // 10 + 1))
        reason = "silent"
        for _ in range(MAX_NOISE_DRAWS):
            pool = self.pools[int(rng.choice(len(self.pools), p=self.probabilities))][1]
            try:
                raw, _ = pool.stream(stream_length(self.cfg.augment, total), self.sample_rate, rng,
                                     self.cfg.augment.p_concat, speaker)
            except SkipItem as err:
                reason = str(err)
                continue
            stream = augment_noise(raw, self.sample_rate, self.cfg.augment, rng, total)
            mix_at, ref_at = disjoint_segments(total, seg, ref, rng)
            noise, reference = stream[mix_at:mix_at + seg], stream[ref_at:ref_at + ref]
            if signal_power(noise) > 0 and signal_power(reference) > 0:
                return noise, reference
            reason = "silent"
        raise MixingError(f"dynamic mixing: {MAX_NOISE_DRAWS} noise draws in a row were unusable (last: {reason})")

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = item_rng(self.seed, "dynamic", self.epoch, index)
        utt = self.clean[self._clean_index(index)]
        clean = load_audio(utt.path, self.sample_rate, resample=True).samples
        clean, _, _ = crop_or_pad(clean, self.segment_samples, rng)
        noise, reference = self._noise(rng, utt.speaker)
        snr = float(rng.uniform(*self.cfg.snr_range))
        if signal_power(clean) > 0:
            mix = mix_at_snr(clean, noise, snr, method=self.cfg.snr_method, sample_rate=self.sample_rate,
                             peak_limit=None)
            clean, noise, scale = mix.clean, mix.noise, mix.reference_scale
        else:
            scale = SILENT_CLEAN_NOISE_RMS / np.sqrt(signal_power(noise))
            noise = (noise * scale).astype(np.float32)
        gain = example_gain(self.cfg.augment, rng)
        clean, noise = clean * gain, noise * gain
        ref = (reference * (scale * gain)).astype(np.float32)
        return _item(f"{utt.id}@{self.epoch}:{index}", clean, clean + noise, ref, len(ref), "")


def ref_samples_for(cfg: DataConfig, sample_rate: int) -> int:
    """The reference length in samples at ``sample_rate``."""
    return int(round(cfg.ref_seconds * sample_rate))


def build_dataset(data_cfg: DataConfig, split: Literal["train", "valid"], segment_samples: int | None,
                  sample_rate: int, seed: int = 0) -> Dataset:
    """The dataset of ``split`` that a training run consumes.

    ``train``: dynamic mixing when ``data_cfg.dynamic`` is set (``data_cfg.train`` is then the clean manifest),
    else a :class:`ManifestDataset` with random crops. ``valid``: a :class:`ManifestDataset` of
    ``data_cfg.valid`` with leading crops (deterministic). ``segment_samples`` is the crop length at
    ``sample_rate`` (``None`` for whole utterances); ``seed`` fixes every random choice. Call
    ``dataset.set_epoch(epoch)`` at the start of each epoch to get fresh crops and mixtures.
    """
    ref_samples = ref_samples_for(data_cfg, sample_rate)
    if split == "valid":
        if data_cfg.valid is None:
            raise ConfigError("data.valid: no validation manifest configured")
        return ManifestDataset(data_cfg.valid, segment_samples, ref_samples, sample_rate, seed, random_crop=False)
    if split != "train":
        raise ConfigError(f"unknown dataset split {split!r}; use train or valid")
    if data_cfg.dynamic is None:
        return ManifestDataset(data_cfg.train, segment_samples, ref_samples, sample_rate, seed, random_crop=True)
    if segment_samples is None:
        raise ConfigError("dynamic mixing needs a segment length (segment_samples)")
    clean = index_clean(Path(data_cfg.train))
    pools = build_pools(data_cfg.dynamic, clean)
    return DynamicMixingDataset(clean, pools, data_cfg.dynamic, segment_samples, ref_samples, sample_rate, seed)
