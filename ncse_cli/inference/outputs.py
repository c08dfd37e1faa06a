"""From tensors to files: enhanced WAVs at their input's rate and length, and the record of an output folder.

An output folder holds the outputs of one model with one set of settings: its record
(:data:`RECORD_FILE`, hidden so that it is never read back as audio) says which, and a run with others is
refused, because existing outputs are kept (an interrupted run continues where it stopped) and would silently
mix with new ones. Every file is written atomically, so an output that exists is complete.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ncse_cli.audio import Audio, resample_audio, save_audio
from ncse_cli.files import read_json, write_json
from ncse_cli.inference.jobs import EnhanceJob
from ncse_cli.inference.settings import EnhanceError

#: What the outputs in a folder were made with.
RECORD_FILE = ".ncse-enhance.json"

#: Keys that stored records spelled otherwise before (old spelling -> current), upgraded when read.
RENAMED_KEYS = {"cfg_scale": "w"}


def upgrade_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A stored record with today's key names (records written by earlier versions keep working)."""
    return {RENAMED_KEYS.get(key, key): value for key, value in record.items()}


def check_record(out_dir: Path, expected: Mapping[str, Any]) -> bool:
    """True when ``out_dir`` already records ``expected``, False when it records nothing; other settings are
    an error naming what differs."""
    found = read_json(out_dir / RECORD_FILE, missing_ok=True)
    if found is None:
        return False
    found = upgrade_record(found)
    if found != dict(expected):
        changed = ", ".join(sorted(k for k in {*expected, *found} if found.get(k) != expected.get(k)))
        raise EnhanceError(f"{out_dir}: holds outputs made with other {changed}; choose another --out (or empty it)")
    return True


def write_record(out_dir: Path, record: Mapping[str, Any]) -> None:
    """Record what the outputs in ``out_dir`` are made with."""
    write_json(out_dir / RECORD_FILE, dict(record))


def pending(jobs: list[EnhanceJob]) -> list[EnhanceJob]:
    """The jobs whose output does not exist yet."""
    return [job for job in jobs if not job.out.is_file()]


def fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Cut or zero-pad to ``length`` (resampling there and back can be a sample off)."""
    if len(samples) >= length:
        return samples[:length]
    return np.pad(samples, (0, length - len(samples)))


def write_output(job: EnhanceJob, samples: np.ndarray, rate: int, original: Audio) -> None:
    """Write an enhanced waveform (at the model's ``rate``) at its input's rate and length."""
    out = fit_length(resample_audio(samples, rate, original.sample_rate), len(original.samples))
    save_audio(job.out, out, original.sample_rate)
