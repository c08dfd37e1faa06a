"""VoiceBank-DEMAND at 16 kHz with a noise-only reference per utterance.

Audio is resampled from 48 kHz with the toolkit's one fixed resampler (recorded in every row). The noise of an
utterance is exactly ``noisy - clean``. Its reference is ``ref_seconds`` long and comes from ``ref_source``:

* ``same``: the first ``ref_seconds`` of the utterance's own noise; the written mixture is the rest of the
  utterance (clean and noisy both start after the reference), so reference and mixture never overlap.
* ``other``: a random segment of the noise of another utterance of the same split with the same noise type
  (from the log files); the mixture is the whole utterance.
* ``oracle``: a random segment of the utterance's own noise that overlaps the mixture; only when asked, and the
  manifest names end in ``_oracle`` so results are never confused with the others.

The validation split holds out whole training speakers (``valid_speakers``, default p226 and p287 as in the
SGMSE+ recipes), so no validation speaker is heard in training. ``snr_db`` is measured from the written files
(power, or P.56 active level); the log file's nominal SNR is kept as ``log_snr_db``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ncse_cli.audio import RESAMPLER_ID, load_audio
from ncse_cli.config import ConfigError, to_dict
from ncse_cli.data.corpora.voicebank import VoiceBankPair, index_voicebank
from ncse_cli.data.manifest import Utterance
from ncse_cli.data.mixing import snr_db
from ncse_cli.data.noise import SkipItem
from ncse_cli.data.prepare.examples import check_mixing_options
from ncse_cli.data.prepare.runner import Job, PrepareResult, absolute, run_recipe, write_example
from ncse_cli.data.seeding import item_rng
from ncse_cli.progress import Progress

log = logging.getLogger("ncse")

RefSource = Literal["same", "other", "oracle"]
REF_SOURCES = ("same", "other", "oracle")
DEFAULT_VALID_SPEAKERS = ("p226", "p287")
#: A ``same`` mixture must keep at least this much audio after the reference is cut off.
MIN_MIX_SECONDS = 0.5


@dataclass
class VBDemandConfig:
    """Resolved options (absolute paths, tuples) of ``prepare_vbdemand``."""

    root: str
    ref_seconds: float
    ref_source: str
    valid_speakers: tuple[str, ...]
    sample_rate: int
    snr_method: str
    seed: int

    def __post_init__(self) -> None:
        if self.ref_source not in REF_SOURCES:
            raise ConfigError(f"vbdemand: ref_source must be one of {', '.join(REF_SOURCES)}, got {self.ref_source!r}")
        check_mixing_options("vbdemand", ref_seconds=self.ref_seconds, snr_method=self.snr_method,
                             sample_rate=self.sample_rate)


@dataclass(frozen=True)
class VBSpec:
    """One utterance to prepare, and (for ``other``) the utterance its reference comes from."""

    pair: VoiceBankPair
    split: str
    manifest: str
    other: VoiceBankPair | None
    config: VBDemandConfig = field(repr=False)


def manifest_name(split: str, ref_source: str) -> str:
    """``vbdemand_<split>`` for ``same`` references, ``vbdemand_<split>_<ref_source>`` otherwise."""
    return f"vbdemand_{split}" if ref_source == "same" else f"vbdemand_{split}_{ref_source}"


def split_pairs(cfg: VBDemandConfig) -> dict[str, list[VoiceBankPair]]:
    """train / valid (held-out training speakers) / test pairs."""
    train, test = index_voicebank(cfg.root, "train"), index_voicebank(cfg.root, "test")
    speakers = sorted({p.speaker for p in train})
    held = [s for s in cfg.valid_speakers if s in speakers]
    if not held:
        raise ConfigError(f"{cfg.root}: none of the validation speakers {', '.join(cfg.valid_speakers)} is in "
                          f"the training set (speakers: {', '.join(speakers)})")
    if len(held) == len(speakers):
        raise ConfigError(f"{cfg.root}: holding out {', '.join(held)} would leave no training speaker")
    return {"train": [p for p in train if p.speaker not in held],
            "valid": [p for p in train if p.speaker in held], "test": test}


def plan_vbdemand(cfg: VBDemandConfig) -> list[Job]:
    """One job per utterance; for ``other`` the donor utterance is drawn from the seed."""
    jobs = []
    for split, pairs in split_pairs(cfg).items():
        by_type: dict[str, list[VoiceBankPair]] = {}
        for pair in pairs:
            by_type.setdefault(pair.noise_type, []).append(pair)
        name = manifest_name(split, cfg.ref_source)
        for pair in pairs:
            other = None
            if cfg.ref_source == "other":
                donors = [p for p in by_type[pair.noise_type] if p.id != pair.id]
                other = donors[int(item_rng(cfg.seed, "donor", pair.id).integers(len(donors)))] if donors else None
            jobs.append(Job(name, pair.id, VBSpec(pair, split, name, other, cfg)))
    return jobs


def _noise_of(pair: VoiceBankPair, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    clean = load_audio(pair.clean, sample_rate, resample=True).samples
    noisy = load_audio(pair.noisy, sample_rate, resample=True).samples
    if len(clean) != len(noisy):
        raise SkipItem(f"{pair.noisy}: {len(noisy)} samples but its clean file has {len(clean)}")
    return clean, (noisy.astype(np.float64) - clean).astype(np.float32)


def _reference(spec: VBSpec, clean: np.ndarray, noise: np.ndarray, ref_len: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(clean, noise, reference, extra) for the chosen reference source."""
    source = spec.config.ref_source
    if source == "same":
        if len(noise) < ref_len + int(MIN_MIX_SECONDS * spec.config.sample_rate):
            raise SkipItem(f"{spec.pair.clean}: too short to cut a {spec.config.ref_seconds} s reference")
        return clean[ref_len:], noise[ref_len:], noise[:ref_len], {"ref_offset": 0, "noise_offset": ref_len}
    if source == "oracle":
        start = int(rng.integers(0, max(len(noise) - ref_len, 0) + 1))
        return clean, noise, noise[start:start + ref_len], {"ref_offset": start, "noise_offset": 0}
    if spec.other is None:
        raise SkipItem(f"{spec.pair.id}: no other {spec.split} utterance has noise type {spec.pair.noise_type!r}")
    _, donor = _noise_of(spec.other, spec.config.sample_rate)
    start = int(rng.integers(0, max(len(donor) - ref_len, 0) + 1))
    return clean, noise, donor[start:start + ref_len], {"ref_offset": start, "noise_offset": 0,
                                                         "ref_from": spec.other.id}


def make_vbdemand_row(spec: VBSpec, out_dir: Path) -> Utterance:
    """Resample one pair, derive its noise and reference, write clean / noisy (= clean + noise) / reference."""
    cfg, sr = spec.config, spec.config.sample_rate
    rng = item_rng(cfg.seed, "ref", spec.pair.id)
    clean, noise = _noise_of(spec.pair, sr)
    clean, noise, ref, offsets = _reference(spec, clean, noise, int(round(cfg.ref_seconds * sr)), rng)
    noisy = clean + noise
    paths = write_example(out_dir, spec.manifest, spec.pair.id, sr, clean, noisy, ref)
    measured = snr_db(clean, noise, cfg.snr_method, sr) if np.any(noise) else None
    extra = {"corpus": "vbdemand", "speaker": spec.pair.speaker, "ref_source": cfg.ref_source,
             "log_snr_db": spec.pair.log_snr_db, "snr_method": cfg.snr_method, "gain": 1.0,
             "ref_samples": len(ref), "resampler": RESAMPLER_ID, **offsets}
    return Utterance(id=spec.pair.id, noisy=paths["noisy"], clean=paths["clean"], noise_ref=paths["noise_ref"],
                     snr_db=measured, noise_type=spec.pair.noise_type, noise_source="vbdemand", split=spec.split,
                     sample_rate=sr, num_samples=len(noisy), extra=extra)


def prepare_vbdemand(root: str | os.PathLike, out_dir: str | os.PathLike, *, ref_seconds: float = 0.25,
                     ref_source: RefSource = "same", valid_speakers: tuple[str, ...] = DEFAULT_VALID_SPEAKERS,
                     sample_rate: int = 16000, snr_method: str = "power", seed: int = 0, jobs: int = 1,
                     progress: Progress | None = None, overwrite: bool = False) -> PrepareResult:
    """Prepare VoiceBank-DEMAND (official layout under ``root``) into ``vbdemand_{train,valid,test}.jsonl``.

    See the module docstring for the reference sources and the validation split. Deterministic for ``seed``;
    re-running with the same options is a no-op; other options in the same ``out_dir`` are refused unless
    ``overwrite`` (which deletes this recipe's previous outputs there first).
    """
    cfg = VBDemandConfig(absolute(root), ref_seconds, ref_source, tuple(valid_speakers),
                         sample_rate, snr_method, seed)
    if cfg.ref_source == "oracle":
        log.warning("oracle references overlap the mixture; their manifests are named *_oracle")
    jobs_list = plan_vbdemand(cfg)
    return run_recipe(f"vbdemand_{cfg.ref_source}", Path(out_dir), {**to_dict(cfg), "resampler": RESAMPLER_ID},
                      jobs_list, make_vbdemand_row, workers=jobs, progress=progress, overwrite=overwrite)
