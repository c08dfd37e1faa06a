"""Non-stationary test sets: clean test speech mixed with noise that changes within the file.

Kinds (see :mod:`ncse_cli.data.nonstationary`) are assigned to utterances in a seeded round-robin; each
utterance keeps the same noise process at every SNR, one manifest per SNR (``nonstationary_snr5``), and every
row says its kind (``noise_type`` and ``nonstationary``) and what the process is made of.

Noise sources: backgrounds come from DEMAND and/or WHAM! when given, otherwise from stationary synthetic noise;
``concat`` segments from the backgrounds plus ESC-50 when given (otherwise every synthetic kind); sudden events
from ESC-50's impulsive categories when given, otherwise synthetic bursts and knocks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ncse_cli.audio import RESAMPLER_ID, load_audio
from ncse_cli.config import ConfigError, to_dict
from ncse_cli.data.corpora import CleanUtterance, index_noise
from ncse_cli.data.corpora.esc50 import IMPULSIVE_CATEGORIES
from ncse_cli.data.manifest import Utterance
from ncse_cli.data.noise import NoiseBank, NoiseClip
from ncse_cli.data.nonstationary import NONSTATIONARY_KINDS, ClipChoice, NoiseBanks, get_kind
from ncse_cli.data.prepare.examples import check_mixing_options, mixed_row
from ncse_cli.data.prepare.ood import load_clean_list, snr_label
from ncse_cli.data.prepare.runner import Job, PrepareResult, absolute, run_recipe
from ncse_cli.data.seeding import item_rng
from ncse_cli.progress import Progress

STATIONARY_SYNTHETIC = ("white", "pink", "brown", "babble", "hum")


@dataclass
class NonstationaryConfig:
    """Resolved options (absolute paths, tuples) of ``prepare_nonstationary``."""

    clean: str
    esc50: str | None
    demand: str | None
    wham: str | None
    kinds: tuple[str, ...]
    snrs: tuple[float, ...]
    esc50_folds: tuple[int, ...]
    ref_seconds: float
    sample_rate: int
    snr_method: str
    max_utterances: int | None
    seed: int

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - set(NONSTATIONARY_KINDS.names()))
        if unknown or not self.kinds:
            raise ConfigError(f"nonstationary: unknown kinds {unknown}; known: "
                              f"{', '.join(NONSTATIONARY_KINDS.names())}")
        check_mixing_options("nonstationary", ref_seconds=self.ref_seconds, snr_method=self.snr_method,
                             sample_rate=self.sample_rate, snrs=self.snrs)


@dataclass(frozen=True)
class NonstationarySpec:
    """One utterance, its process kind and clips, at one SNR."""

    utterance: CleanUtterance
    kind: str
    clips: tuple[ClipChoice, ...]
    snr_db: float
    manifest: str
    config: NonstationaryConfig = field(repr=False)


def build_banks(cfg: NonstationaryConfig) -> NoiseBanks:
    """The background, segment and event banks the configuration's corpora provide."""
    background: list[NoiseClip] = []
    if cfg.demand is not None:
        background += index_noise("demand", cfg.demand)
    if cfg.wham is not None:
        background += index_noise("wham", cfg.wham)
    if not background:
        background = index_noise("synthetic", None, STATIONARY_SYNTHETIC)
    segments = list(background) if (cfg.demand or cfg.wham) else index_noise("synthetic", None)
    events = None
    if cfg.esc50 is not None:
        segments += index_noise("esc50", cfg.esc50, (), cfg.esc50_folds)
        impulsive = [c for c in segments if c.corpus == "esc50" and c.category in IMPULSIVE_CATEGORIES]
        events = NoiseBank(impulsive) if impulsive else None
    return NoiseBanks(NoiseBank(background), NoiseBank(segments), events)


def plan_nonstationary(cfg: NonstationaryConfig) -> list[Job]:
    """Jobs for every SNR x utterance; kind and clips depend only on the seed and the utterance."""
    utterances, banks = load_clean_list(cfg.clean, cfg.max_utterances), build_banks(cfg)
    order = item_rng(cfg.seed, "kinds").permutation(list(cfg.kinds))
    picks = []
    for i, utt in enumerate(utterances):
        kind = str(order[i % len(order)])
        picks.append((utt, kind, tuple(get_kind(kind).plan(banks, item_rng(cfg.seed, "plan", utt.id)))))
    jobs = []
    for snr in cfg.snrs:
        name = f"nonstationary_{snr_label(snr)}"
        jobs += [Job(name, utt.id, NonstationarySpec(utt, kind, clips, float(snr), name, cfg))
                 for utt, kind, clips in picks]
    return jobs


def make_nonstationary_row(spec: NonstationarySpec, out_dir: Path) -> Utterance:
    """Build the utterance's noise process (the same at every SNR), mix at the spec's SNR and write it."""
    cfg, sr = spec.config, spec.config.sample_rate
    clean = load_audio(spec.utterance.path, sr, resample=True).samples
    rng = item_rng(cfg.seed, "process", spec.utterance.id)
    process = get_kind(spec.kind).build(list(spec.clips), len(clean), int(round(cfg.ref_seconds * sr)), sr, rng)
    sources = sorted({clip.corpus for clip, _ in spec.clips})
    extra = {"corpus": "nonstationary", "nonstationary": spec.kind, "speaker": spec.utterance.speaker,
             "ref_source": "same-process", **process.details}
    return mixed_row(out_dir, spec.manifest, spec.utterance.id, clean=clean, noise=process.noise,
                     ref=process.ref, snr_db=spec.snr_db, sample_rate=sr, method=cfg.snr_method,
                     noise_type=spec.kind, noise_source="+".join(sources), split="test", extra=extra)


def prepare_nonstationary(clean: str | os.PathLike, out_dir: str | os.PathLike, *,
                          esc50: str | os.PathLike | None = None, demand: str | os.PathLike | None = None,
                          wham: str | os.PathLike | None = None, kinds: Sequence[str] | None = None,
                          snrs: Sequence[float] = (0.0, 5.0, 10.0), esc50_folds: Sequence[int] = (),
                          ref_seconds: float = 0.25, sample_rate: int = 16000, snr_method: str = "power",
                          max_utterances: int | None = None, seed: int = 0, jobs: int = 1,
                          progress: Progress | None = None, overwrite: bool = False) -> PrepareResult:
    """Write ``nonstationary_snr<k>.jsonl`` for each SNR: every clean utterance (manifest or folder) with one
    non-stationary noise process. Works with no corpus at all (synthetic noise); deterministic for ``seed``;
    re-runs are no-ops; another configuration in the same ``out_dir`` is refused unless ``overwrite``."""
    cfg = NonstationaryConfig(absolute(clean), absolute(esc50), absolute(demand), absolute(wham),
                              tuple(kinds or NONSTATIONARY_KINDS.names()), tuple(float(s) for s in snrs),
                              tuple(int(f) for f in esc50_folds), ref_seconds, sample_rate, snr_method,
                              max_utterances, seed)
    return run_recipe("nonstationary", Path(out_dir), {**to_dict(cfg), "resampler": RESAMPLER_ID},
                      plan_nonstationary(cfg), make_nonstationary_row, workers=jobs, progress=progress,
                      overwrite=overwrite)
