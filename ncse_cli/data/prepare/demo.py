"""The built-in demo corpus: synthetic talkers mixed with synthetic noises, so the toolkit runs offline.

Talkers are split speaker-disjointly (train: all but three, valid: one, test: two). Every mixture's noise and
its reference are disjoint segments of one generated noise. Train and valid SNRs are uniform in ``snr_range``;
the test set takes the noise kinds in turn and the ``test_snrs`` levels shifted by one each round, so with the
defaults (24 test utterances, 4 kinds, 4 levels) every kind occurs at every level (once or twice).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from ncse_cli.config import ConfigError, to_dict
from ncse_cli.data.manifest import Utterance
from ncse_cli.data.noise import noise_pair, synthetic_clip
from ncse_cli.data.prepare.examples import check_mixing_options, mixed_row
from ncse_cli.data.prepare.runner import Job, PrepareResult, run_recipe
from ncse_cli.data.seeding import item_rng
from ncse_cli.data.synth import SYNTH_NOISES, SYNTH_VERSION, Talker, make_talkers, synth_speech
from ncse_cli.progress import Progress

SPLITS = ("train", "valid", "test")


@dataclass
class DemoConfig:
    """Sizes and levels of the demo corpus (the defaults feed a CPU demo that trains in minutes)."""

    seed: int = 0
    sample_rate: int = 16000
    num_train: int = 64
    num_valid: int = 8
    num_test: int = 24
    seconds: float = 2.0
    ref_seconds: float = 0.5
    snr_range: tuple[float, float] = (-5.0, 15.0)
    test_snrs: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0)
    #: noises whose spectrum changes from one recording to the next (tones, band) or that resemble speech
    #: (babble), and one broadband colour; the other synthetic kinds (white, brown, hum, clicks) are held out as
    #: out-of-distribution noise (``prepare ood --synthetic``)
    noise_kinds: tuple[str, ...] = ("tones", "band", "babble", "pink")
    num_talkers: int = 8
    snr_method: str = "power"

    def __post_init__(self) -> None:
        if min(self.num_train, self.num_valid, self.num_test) < 1:
            raise ConfigError("demo: every split needs at least one utterance")
        if self.num_talkers < 4:
            raise ConfigError("demo: num_talkers must be at least 4 (train, valid and two test talkers)")
        if not self.seconds > 0.5:  # NaN too
            raise ConfigError(f"demo: seconds must exceed 0.5, got {self.seconds}")
        if self.snr_range[0] > self.snr_range[1]:
            raise ConfigError(f"demo: snr_range must be (low, high), got {self.snr_range}")
        check_mixing_options("demo", ref_seconds=self.ref_seconds, snr_method=self.snr_method,
                             sample_rate=self.sample_rate, snrs=self.test_snrs)
        unknown = sorted(set(self.noise_kinds) - set(SYNTH_NOISES.names()))
        if unknown or not self.noise_kinds:
            raise ConfigError(f"demo: unknown noise kinds {unknown}; known: {', '.join(SYNTH_NOISES.names())}")


@dataclass(frozen=True)
class DemoSpec:
    """Everything one demo row depends on."""

    key: str
    split: str
    talker: Talker
    noise_kind: str
    snr_db: float
    config: DemoConfig = field(repr=False)


def talkers_by_split(cfg: DemoConfig) -> dict[str, list[Talker]]:
    """The demo's talkers of each split (disjoint; two held-out test talkers)."""
    talkers = make_talkers(cfg.num_talkers, item_rng(cfg.seed, "talkers"))
    return {"train": talkers[:-3], "valid": talkers[-3:-2], "test": talkers[-2:]}


def test_condition(cfg: DemoConfig, index: int) -> tuple[str, float]:
    """Noise kind and SNR of the ``index``-th test utterance: kinds in turn, SNR levels shifted each round so every
    kind meets several."""
    kinds = cfg.noise_kinds
    return kinds[index % len(kinds)], cfg.test_snrs[(index + index // len(kinds)) % len(cfg.test_snrs)]


def plan_demo(cfg: DemoConfig) -> list[Job]:
    """The demo's jobs: ids ``<split>_<index>``, talkers and noise kinds and SNRs drawn from the seed."""
    talkers, jobs = talkers_by_split(cfg), []
    counts = {"train": cfg.num_train, "valid": cfg.num_valid, "test": cfg.num_test}
    kinds = list(cfg.noise_kinds)
    for split in SPLITS:
        rng = item_rng(cfg.seed, "plan", split)
        for i in range(counts[split]):
            if split == "test":
                kind, snr = test_condition(cfg, i)
            else:
                kind, snr = kinds[int(rng.integers(len(kinds)))], round(float(rng.uniform(*cfg.snr_range)), 2)
            talker = talkers[split][int(rng.integers(len(talkers[split])))]
            key = f"{split}_{i:04d}"
            jobs.append(Job(split, key, DemoSpec(key, split, talker, kind, float(snr), cfg)))
    return jobs


def make_demo_row(spec: DemoSpec, out_dir: Path) -> Utterance:
    """Synthesise one utterance and one noise, mix, write; the reference is another part of the same noise."""
    cfg, sr = spec.config, spec.config.sample_rate
    n, r = int(round(cfg.seconds * sr)), int(round(cfg.ref_seconds * sr))
    rng = item_rng(cfg.seed, "row", spec.key)
    clean = synth_speech(spec.talker, n, sr, rng)
    pair = noise_pair(synthetic_clip(spec.noise_kind), None, n, r, sr, rng)
    extra = {"corpus": "demo", "speaker": spec.talker.name, "ref_source": "same-noise",
             "noise_offset": pair.mix_offset, "ref_offset": pair.ref_offset}
    return mixed_row(out_dir, spec.split, spec.key, clean=clean, noise=pair.mix, ref=pair.ref, snr_db=spec.snr_db,
                     sample_rate=sr, method=cfg.snr_method, noise_type=spec.noise_kind, noise_source="synthetic",
                     split=spec.split, extra=extra)


def prepare_demo(out_dir: str | os.PathLike, seed: int = 0, *, config: DemoConfig | None = None, jobs: int = 1,
                 progress: Progress | None = None, overwrite: bool = False) -> PrepareResult:
    """Write the demo corpus: ``train.jsonl``, ``valid.jsonl``, ``test.jsonl`` and their audio under ``out_dir``.

    ``config`` sets sizes and levels (its seed is replaced by ``seed``). Deterministic for a seed; a re-run
    with the same configuration is a no-op; another configuration is refused unless ``overwrite``.
    """
    cfg = dataclasses.replace(config or DemoConfig(), seed=seed)
    resolved = {**to_dict(cfg), "synth_version": SYNTH_VERSION}
    return run_recipe("demo", Path(out_dir), resolved, plan_demo(cfg), make_demo_row, workers=jobs,
                      progress=progress, overwrite=overwrite)
