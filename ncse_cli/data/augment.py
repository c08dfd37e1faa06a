"""Noise augmentation for dynamic mixing (plan section 2.4, temporal augmentation), with audiomentations.

audiomentations draws from Python's and NumPy's global generators; every call here runs under
:func:`ncse_cli.data.seeding.seeded_global_rngs` with a seed taken from the item's own generator, so an
augmented example depends only on that generator and the caller's global random state is left untouched.
"""

from __future__ import annotations

import numpy as np

from ncse_cli.data.config import AugmentConfig
from ncse_cli.data.seeding import child_seed, seeded_global_rngs


def stream_length(cfg: AugmentConfig, length: int) -> int:
    """How long a stream must be to still hold ``length`` samples after the largest time stretch."""
    factor = max(1.0, cfg.time_stretch[1]) if cfg.p_time_stretch > 0 else 1.0
    return int(np.ceil(length * factor * 1.01)) + 64


def augment_noise(stream: np.ndarray, sample_rate: int, cfg: AugmentConfig, rng: np.random.Generator,
                  length: int) -> np.ndarray:
    """Time-stretch, filter and vary the level of a noise stream, returning exactly ``length`` samples.

    ``stream`` must hold :func:`stream_length` samples, so a stretched stream is only ever cropped.
    """
    # imported here: audiomentations imports SciPy's signal package (1 s), which a run without dynamic mixing
    # (or a process that never mixes) does not need
    from audiomentations import BandPassFilter, GainTransition, HighPassFilter, LowPassFilter, OneOf, TimeStretch

    stream = np.asarray(stream, dtype=np.float32)
    with seeded_global_rngs(child_seed(rng)):
        if rng.random() < cfg.p_time_stretch:
            low, high = cfg.time_stretch
            stream = TimeStretch(low, high, leave_length_unchanged=False, p=1.0)(stream, sample_rate)
        stream = stream[:length]
        if rng.random() < cfg.p_filter:
            stream = OneOf([LowPassFilter(min_cutoff_freq=500.0, max_cutoff_freq=0.4 * sample_rate, p=1.0),
                            HighPassFilter(min_cutoff_freq=50.0, max_cutoff_freq=1500.0, p=1.0),
                            BandPassFilter(p=1.0)])(stream, sample_rate)
        if rng.random() < cfg.p_gain_transition:
            stream = GainTransition(min_gain_db=-12.0, max_gain_db=6.0, min_duration=0.1, max_duration=0.6,
                                    duration_unit="fraction", p=1.0)(stream, sample_rate)
    if len(stream) < length:
        raise ValueError(f"noise stream of {len(stream)} samples is shorter than {length} after augmentation")
    return np.asarray(stream, dtype=np.float32)


def example_gain(cfg: AugmentConfig, rng: np.random.Generator) -> float:
    """A linear gain for the whole example, uniform in ``cfg.gain_db`` (decibels)."""
    return float(10 ** (rng.uniform(*cfg.gain_db) / 20))
