"""From tensors to files: enhanced WAVs at their input's rate and length, the record of an output folder, and the
record of each automatic noise reference.

An output folder holds the outputs of one model with one set of settings: its record
(:data:`RECORD_FILE`, hidden so that it is never read back as audio) says which, and a run with others is
refused, because existing outputs are kept (an interrupted run continues where it stopped) and would silently
mix with new ones. Every file is written atomically, so an output that exists is complete.

An output whose noise reference was cut from its input's pauses (``--noise-ref auto``) has a JSON record beside
it, ``<id>.noise-ref.json`` (:func:`reference_record_path`): the detector, the stretches of the input used (in
seconds), and, when no pause was long enough, the reason and that the null condition was used instead. It is
written before the output, so an output that exists has its record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ncse_cli.audio import Audio, resample_audio, save_audio, save_audio_blocks
from ncse_cli.audio_stream import fit_blocks, resample_blocks
from ncse_cli.files import read_json, write_json
from ncse_cli.inference.jobs import EnhanceJob
from ncse_cli.inference.settings import EnhanceError

#: What the outputs in a folder were made with.
RECORD_FILE = ".ncse-enhance.json"

#: Keys that stored records spelled otherwise before (old spelling -> current), upgraded when read.
RENAMED_KEYS = {"cfg_scale": "w"}

#: Marks a key of :data:`ADDED_KEYS` whose absence stands for whatever the current run uses.
AS_NOW = object()
#: Keys records gained later, and what a record written before stands for without them. ``reference``: inputs
#: without a noise reference were enhanced with the null condition. ``window``, ``overlap``: files were enhanced
#: whole, which equals windowed enhancement for every file within one window (all test-set utterances), so such
#: folders and evaluations stay usable.
#: ``subtype``: outputs were 32-bit float WAVs.
ADDED_KEYS: dict[str, Any] = {"reference": "none", "window": AS_NOW, "overlap": AS_NOW, "subtype": "FLOAT"}

#: The suffix of an automatic reference's record beside its output.
REFERENCE_RECORD_SUFFIX = ".noise-ref.json"


def upgrade_record(record: Mapping[str, Any], current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A stored record with today's key names (records written by earlier versions keep working); compared with
    ``current``, keys it has and the stored record lacks are filled in as :data:`ADDED_KEYS` says."""
    upgraded = {RENAMED_KEYS.get(key, key): value for key, value in record.items()}
    for key, before in ADDED_KEYS.items():
        if current is not None and key in current and key not in upgraded:
            upgraded[key] = current[key] if before is AS_NOW else before
    return upgraded


def check_record(out_dir: Path, expected: Mapping[str, Any]) -> bool:
    """True when ``out_dir`` already records ``expected``, False when it records nothing; other settings are
    an error naming what differs."""
    found = read_json(out_dir / RECORD_FILE, missing_ok=True)
    if found is None:
        return False
    found = upgrade_record(found, expected)
    if found != dict(expected):
        changed = ", ".join(sorted(k for k in {*expected, *found} if found.get(k) != expected.get(k)))
        raise EnhanceError(f"{out_dir}: holds outputs made with other {changed}; choose another --out (or empty it)")
    return True


def write_record(out_dir: Path, record: Mapping[str, Any]) -> None:
    """Record what the outputs in ``out_dir`` are made with."""
    write_json(out_dir / RECORD_FILE, dict(record))


def fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Cut or zero-pad to ``length`` (resampling there and back can be a sample off)."""
    if len(samples) >= length:
        return samples[:length]
    return np.pad(samples, (0, length - len(samples)))


def write_output(job: EnhanceJob, samples: np.ndarray, rate: int, original: Audio, subtype: str = "FLOAT") -> None:
    """Write an enhanced waveform (at the model's ``rate``) at its input's rate and length, as a WAV of
    ``subtype``."""
    out = fit_length(resample_audio(samples, rate, original.sample_rate), len(original.samples))
    save_audio(job.out, out, original.sample_rate, subtype)


def write_output_blocks(job: EnhanceJob, blocks: Iterable[np.ndarray], length: int, rate: int, input_rate: int,
                        input_length: int, subtype: str = "FLOAT") -> None:
    """Write an enhanced waveform that arrives in consecutive blocks (``length`` samples at the model's ``rate``)
    at its input's rate and length, resampling block by block as :func:`write_output` does whole."""
    resampled = resample_blocks(blocks, length, rate, input_rate)
    save_audio_blocks(job.out, fit_blocks(resampled, input_length), input_rate, subtype)


def reference_record_path(job: EnhanceJob) -> Path:
    """Where the record of an automatic reference lies: beside the output, ``<id>.noise-ref.json``."""
    return job.out.with_name(job.out.stem + REFERENCE_RECORD_SUFFIX)


def write_reference_record(job: EnhanceJob, record: Mapping[str, Any]) -> None:
    """Record where the noise reference of ``job`` came from, beside its output."""
    write_json(reference_record_path(job), {"input": str(job.noisy), **record})
