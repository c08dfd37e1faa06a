"""Out-of-distribution test sets: clean test speech mixed with ESC-50 and/or UrbanSound8K noise at several SNRs
(or with synthetic noise kinds a model never heard in training: the CPU scale of the plan holds some of the demo
corpus's kinds out of training for this).

Each clean utterance gets one noise clip per corpus (categories visited in a seeded round-robin so they are
balanced, the clip within a category drawn from the seed), and the same clip segment at every SNR, so the SNR is
the only thing that changes between ``<corpus>_snr0``, ``<corpus>_snr5``, ... The reference is a disjoint segment of
the same clip, or a segment of another clip of the same category when the clip is too short for both (the
mixture then loops its clip with cross-fades). One manifest per corpus and SNR, named ``esc50_snr5``,
``urbansound8k_snr5``, ``synthetic_snr5`` etc.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ncse_cli.audio import RESAMPLER_ID, load_audio
from ncse_cli.config import ConfigError, to_dict
from ncse_cli.data.corpora import CleanUtterance, index_clean, index_noise
from ncse_cli.data.corpora.base import check_files
from ncse_cli.data.manifest import Utterance
from ncse_cli.data.noise import NoiseBank, NoiseClip, noise_pair
from ncse_cli.data.prepare.examples import check_mixing_options, mixed_row
from ncse_cli.data.prepare.runner import Job, PrepareResult, absolute, run_recipe
from ncse_cli.data.seeding import item_rng
from ncse_cli.progress import Progress


@dataclass
class OodConfig:
    """Resolved options (absolute paths, tuples) of ``prepare_ood``."""

    clean: str
    esc50: str | None
    urbansound: str | None
    synthetic: tuple[str, ...]  #: synthetic noise kinds (empty: none)
    snrs: tuple[float, ...]
    esc50_categories: tuple[str, ...]
    esc50_folds: tuple[int, ...]
    urbansound_classes: tuple[str, ...]
    urbansound_folds: tuple[int, ...]
    ref_seconds: float
    sample_rate: int
    snr_method: str
    max_utterances: int | None
    seed: int

    def __post_init__(self) -> None:
        if self.esc50 is None and self.urbansound is None and not self.synthetic:
            raise ConfigError("ood: give at least one noise corpus (esc50, urbansound or synthetic kinds)")
        check_mixing_options("ood", ref_seconds=self.ref_seconds, snr_method=self.snr_method,
                             sample_rate=self.sample_rate, snrs=self.snrs)
        if self.max_utterances is not None and self.max_utterances < 1:
            raise ConfigError("ood: max_utterances must be at least 1")


@dataclass(frozen=True)
class OodSpec:
    """One clean utterance with its clip (and the clip's same-category alternative) at one SNR."""

    utterance: CleanUtterance
    corpus: str
    clip: NoiseClip
    alternative: NoiseClip | None
    snr_db: float
    manifest: str
    config: OodConfig = field(repr=False)


def snr_label(snr: float) -> str:
    """``5.0 -> "snr5"``, ``-2.5 -> "snr-2.5"`` (manifest names for evaluate and report)."""
    return f"snr{snr:g}"


def load_clean_list(source: str, limit: int | None) -> list[CleanUtterance]:
    """Clean utterances from a manifest or folder (first ``limit`` of them), every file checked to exist."""
    items = index_clean(source)[:limit]
    check_files([u.path for u in items], Path(source))
    return items


def _banks(cfg: OodConfig) -> dict[str, NoiseBank]:
    banks = {}
    if cfg.esc50 is not None:
        banks["esc50"] = NoiseBank(index_noise("esc50", cfg.esc50, cfg.esc50_categories, cfg.esc50_folds))
    if cfg.urbansound is not None:
        banks["urbansound8k"] = NoiseBank(index_noise("urbansound8k", cfg.urbansound, cfg.urbansound_classes,
                                                      cfg.urbansound_folds))
    if cfg.synthetic:
        banks["synthetic"] = NoiseBank(index_noise("synthetic", None, cfg.synthetic))
    return banks


def plan_ood(cfg: OodConfig) -> list[Job]:
    """Jobs for every corpus x SNR x utterance; clip choices depend only on the seed, corpus and utterance."""
    utterances, jobs = load_clean_list(cfg.clean, cfg.max_utterances), []
    for corpus, bank in _banks(cfg).items():
        order = item_rng(cfg.seed, corpus, "categories").permutation(bank.categories)
        picks = []
        for i, utt in enumerate(utterances):
            rng = item_rng(cfg.seed, corpus, "clip", utt.id)
            clip = bank.draw(rng, str(order[i % len(order)]))
            picks.append((utt, clip, bank.alternative(clip, rng)))
        for snr in cfg.snrs:
            name = f"{corpus}_{snr_label(snr)}"
            jobs += [Job(name, utt.id, OodSpec(utt, corpus, clip, alt, float(snr), name, cfg))
                     for utt, clip, alt in picks]
    return jobs


def make_ood_row(spec: OodSpec, out_dir: Path) -> Utterance:
    """Mix one clean utterance with its clip at the spec's SNR (same segment at every SNR) and write it."""
    cfg, sr = spec.config, spec.config.sample_rate
    clean = load_audio(spec.utterance.path, sr, resample=True).samples
    rng = item_rng(cfg.seed, spec.corpus, "segment", spec.utterance.id)
    pair = noise_pair(spec.clip, spec.alternative, len(clean), int(round(cfg.ref_seconds * sr)), sr, rng)
    extra = {"corpus": spec.corpus, "category": spec.clip.category, "fold": spec.clip.fold,
             "speaker": spec.utterance.speaker, "clip": pair.clip.name, "ref_clip": pair.ref_clip.name,
             "ref_source": "same-clip" if pair.ref_clip == pair.clip else "same-category",
             "noise_offset": pair.mix_offset, "ref_offset": pair.ref_offset, "looped": pair.looped}
    return mixed_row(out_dir, spec.manifest, spec.utterance.id, clean=clean, noise=pair.mix, ref=pair.ref,
                     snr_db=spec.snr_db, sample_rate=sr, method=cfg.snr_method, noise_type=spec.clip.category,
                     noise_source=spec.corpus, split="test", extra=extra)


def prepare_ood(clean: str | os.PathLike, out_dir: str | os.PathLike, *, esc50: str | os.PathLike | None = None,
                urbansound: str | os.PathLike | None = None, synthetic: Sequence[str] = (),
                snrs: Sequence[float] = (0.0, 5.0, 10.0),
                esc50_categories: Sequence[str] = (), esc50_folds: Sequence[int] = (),
                urbansound_classes: Sequence[str] = (), urbansound_folds: Sequence[int] = (),
                ref_seconds: float = 0.25, sample_rate: int = 16000, snr_method: str = "power",
                max_utterances: int | None = None, seed: int = 0, jobs: int = 1,
                progress: Progress | None = None, overwrite: bool = False) -> PrepareResult:
    """Write ``<corpus>_snr<k>.jsonl`` for each given corpus (ESC-50, UrbanSound8K, the ``synthetic`` noise
    kinds) and SNR.

    ``clean`` is a manifest (its ``clean`` column) or a folder of WAV files, resampled to ``sample_rate`` when
    needed. Categories/classes and folds select clips (empty: all). Deterministic for ``seed``; re-runs are
    no-ops; another configuration in the same ``out_dir`` is refused unless ``overwrite``.
    """
    cfg = OodConfig(absolute(clean), absolute(esc50), absolute(urbansound), tuple(synthetic),
                    tuple(float(s) for s in snrs),
                    tuple(esc50_categories), tuple(int(f) for f in esc50_folds), tuple(urbansound_classes),
                    tuple(int(f) for f in urbansound_folds), ref_seconds, sample_rate, snr_method,
                    max_utterances, seed)
    return run_recipe("ood", Path(out_dir), {**to_dict(cfg), "resampler": RESAMPLER_ID}, plan_ood(cfg),
                      make_ood_row, workers=jobs, progress=progress, overwrite=overwrite)
