"""One prepared example: mix clean speech and noise at an SNR, bring the reference to the mixture's noise level,
write the three files and build the manifest row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ncse_cli.audio import RESAMPLER_ID
from ncse_cli.config import ConfigError
from ncse_cli.data.manifest import Utterance
from ncse_cli.data.mixing import SNR_METHODS, SnrMethod, mix_at_snr
from ncse_cli.data.prepare.runner import write_example


def mixed_row(out_dir: Path, manifest: str, key: str, *, clean: np.ndarray, noise: np.ndarray, ref: np.ndarray,
              snr_db: float, sample_rate: int, method: SnrMethod, noise_type: str, noise_source: str, split: str,
              extra: dict[str, Any]) -> Utterance:
    """Mix at ``snr_db`` (no clipping: both parts are scaled and the gain recorded), scale the reference like
    the mixture's noise (it comes from the same noise process), write the files and return the row."""
    mix = mix_at_snr(clean, noise, snr_db, method=method, sample_rate=sample_rate)
    reference = (np.asarray(ref, dtype=np.float64) * mix.reference_scale).astype(np.float32)
    paths = write_example(out_dir, manifest, key, sample_rate, mix.clean, mix.noisy, reference)
    details = {"snr_method": method, "gain": mix.gain, "ref_samples": len(reference),
               "resampler": RESAMPLER_ID}
    return Utterance(id=key, noisy=paths["noisy"], clean=paths["clean"], noise_ref=paths["noise_ref"],
                     snr_db=float(snr_db), noise_type=noise_type, noise_source=noise_source, split=split,
                     sample_rate=sample_rate, num_samples=len(mix.noisy), extra={**details, **extra})


def check_mixing_options(recipe: str, *, ref_seconds: float, snr_method: str, sample_rate: int,
                         snrs: tuple[float, ...] | None = None) -> None:
    """Validate the options every mixing recipe shares; errors name the recipe and the option."""
    if not 0 < ref_seconds <= 10:
        raise ConfigError(f"{recipe}: ref_seconds must be in (0, 10], got {ref_seconds}")
    if snr_method not in SNR_METHODS:
        raise ConfigError(f"{recipe}: snr_method must be one of {', '.join(SNR_METHODS)}, got {snr_method!r}")
    if not sample_rate > 0:
        raise ConfigError(f"{recipe}: sample_rate must be positive, got {sample_rate}")
    if snrs is not None and (not snrs or len(set(snrs)) != len(snrs) or not np.all(np.isfinite(snrs))):
        raise ConfigError(f"{recipe}: snrs must be finite, distinct and non-empty, got {list(snrs)}")
