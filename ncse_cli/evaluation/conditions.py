"""Reference conditions of an evaluation: which noise reference each test utterance is enhanced with.

The plan's diagnosis of its predecessor asks whether the reference matters at all (section 1). A test set's
manifest stays as prepared; a condition derives each row's reference from it:

* ``matched`` (the default): the row's own reference.
* ``null``: no reference; the model runs its null-condition branch alone, which is guidance at w = 0.
* ``same-type``: the reference of another row with the same noise type (another recording of that kind).
* ``mismatched``: the reference of a row with another noise type.
* ``white``: white Gaussian noise.
* ``oracle``: a segment of the mixture's own noise, ``noisy - clean`` (it overlaps the mixture: an upper bound).
* ``auto``: a reference cut from the mixture's own pauses (:func:`ncse_cli.auto_reference.auto_reference`), what
  ``ncse enhance --noise-ref auto`` does for a recording without one; a row whose pauses do not add up to a
  reference is enhanced with the null condition, and the record says why.

Borrowed and white references are brought to the RMS level of the row's own reference, so a condition changes what
the reference sounds like, not how loud it is. Every reference is as long as the row's own, or ``seconds`` long
(0.25, 0.5, 1 and 2 s in the plan's length study): stored references are cut to that length (a test set prepared
with longer references than the study's longest, e.g. ``--ref-seconds 2``, serves every length), never looped.
Donor rows and segment offsets are drawn from generators seeded by ``(seed, condition, utterance id)``, so a
condition gives the same references in every run, whatever the order of the rows.

Results of a condition are stored beside the matched ones: :func:`result_label` names the folder
(``models/<name>/eval/<testset>/<label>/``), extending :func:`ncse_cli.workspace.scale_label` so that today's
folders (``w1``: matched reference, sampler seed 0) keep their names.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ncse_cli.audio import load_audio, save_audio
from ncse_cli.auto_reference import auto_reference
from ncse_cli.data.manifest import Manifest, Utterance
from ncse_cli.data.seeding import item_rng
from ncse_cli.errors import NcseError
from ncse_cli.files import write_json
from ncse_cli.inference.jobs import output_path
from ncse_cli.workspace import scale_label

KINDS = ("matched", "null", "same-type", "mismatched", "white", "oracle", "auto")
#: Kinds whose reference comes from another row of the test set.
BORROWED = ("same-type", "mismatched")
#: The plan's reference lengths (seconds).
REFERENCE_SECONDS = (0.25, 0.5, 1.0, 2.0)


class ConditionError(NcseError, ValueError):
    """A reference condition that is unknown or cannot be built from a test set."""


@dataclass(frozen=True)
class ReferenceCondition:
    """A reference kind and, optionally, a reference length in seconds (``None``: as long as the row's own)."""

    kind: str = "matched"
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConditionError(f"unknown reference condition {self.kind!r}; known: {', '.join(KINDS)}")
        if self.seconds is not None and not (math.isfinite(self.seconds) and self.seconds > 0):
            raise ConditionError(f"reference length must be a positive number of seconds, got {self.seconds}")
        if self.kind == "null" and self.seconds is not None:
            raise ConditionError("the null condition has no reference, so no reference length")

    @property
    def label(self) -> str:
        """``matched``, ``oracle``, ``matched-0.5s``, ..."""
        return self.kind if self.seconds is None else f"{self.kind}-{self.seconds:g}s"

    @property
    def is_default(self) -> bool:
        return self == ReferenceCondition()

    @classmethod
    def parse(cls, text: str) -> "ReferenceCondition":
        """Inverse of :attr:`label` (what ``--reference`` options will take)."""
        match = re.fullmatch(r"(?P<kind>[a-z-]+?)(?:-(?P<seconds>\d+(?:\.\d+)?)s)?", text.strip())
        if match is None:
            raise ConditionError(f"not a reference condition: {text!r} (e.g. matched, null, mismatched, oracle-1s)")
        seconds = match.group("seconds")
        return cls(match.group("kind"), None if seconds is None else float(seconds))


def result_label(w: float | None, condition: ReferenceCondition = ReferenceCondition(), sampler_seed: int = 0) -> str:
    """The folder of one evaluation: the guidance label, then the condition unless matched, then the sampler
    seed unless 0 (``w1``, ``w3.mismatched``, ``w1.matched-0.5s.seed2``). The null condition does not depend on
    w, so it is always ``w-.null``."""
    parts = [scale_label(None if condition.kind == "null" else w)]
    if not condition.is_default:
        parts.append(condition.label)
    if sampler_seed:
        parts.append(f"seed{sampler_seed}")
    return ".".join(parts)


_LABEL = re.compile(r"(?P<w>w(?:-|\d+(?:\.\d+)?))(?:\.(?P<condition>[a-z-]+?(?:-\d+(?:\.\d+)?s)?))?"
                    r"(?:\.seed(?P<seed>\d+))?")


def parse_result_label(label: str) -> tuple[float | None, ReferenceCondition, int]:
    """``(w, condition, sampler seed)`` of a folder label (inverse of :func:`result_label`)."""
    match = _LABEL.fullmatch(label)
    if match is None:
        raise ConditionError(f"not an evaluation label: {label!r} (e.g. w1, w3.mismatched, w-.null, w1.seed2)")
    w = None if match.group("w") == "w-" else float(match.group("w")[1:])
    condition = ReferenceCondition.parse(match.group("condition") or "matched")
    return w, condition, int(match.group("seed") or 0)


def choose_donors(manifest: Manifest, condition: ReferenceCondition, seed: int = 0) -> dict[str, str]:
    """For a borrowing condition, the id of the row each row takes its reference from: same noise type (and not
    itself) for ``same-type``, another noise type for ``mismatched``. Depends only on the manifest's metadata."""
    if condition.kind not in BORROWED:
        return {}
    by_type: dict[str, list[str]] = {}
    for row in manifest:
        by_type.setdefault(row.noise_type, []).append(row.id)
    donors = {}
    for row in manifest:
        if condition.kind == "same-type":
            pool = [i for i in by_type[row.noise_type] if i != row.id]
        else:
            pool = [i for kind, ids in by_type.items() if kind != row.noise_type for i in ids]
        if not pool:
            need = (f"a second utterance of noise type {row.noise_type!r}" if condition.kind == "same-type"
                    else "a second noise type")
            raise ConditionError(f"{manifest.path}: the {condition.kind} condition needs {need} (row {row.id!r})")
        donors[row.id] = pool[int(_rng(seed, condition, row.id, "donor").integers(len(pool)))]
    return donors


def _rng(seed: int, condition: ReferenceCondition, key: str, purpose: str) -> np.random.Generator:
    return item_rng(seed, "reference", condition.label, key, purpose)


def crop(x: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``length``-sample segment of ``x`` (``x`` must be at least that long)."""
    start = int(rng.integers(0, len(x) - length + 1))
    return x[start:start + length]


def match_level(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``x`` scaled to the RMS of ``reference`` (silence stays silence)."""
    rms = math.sqrt(float(np.mean(np.square(x, dtype=np.float64))))
    target = math.sqrt(float(np.mean(np.square(reference, dtype=np.float64))))
    return (x * (target / rms) if rms > 0 else x).astype(np.float32)


def _read(manifest: Manifest, relative: str, sample_rate: int) -> np.ndarray:
    return load_audio(manifest.resolve(relative), sample_rate, resample=True).samples


def _stored(manifest: Manifest, row: Utterance, length: int, sample_rate: int, rng: np.random.Generator,
            condition: ReferenceCondition) -> np.ndarray:
    """A ``length``-sample segment of ``row``'s stored reference."""
    ref = _read(manifest, row.noise_ref, sample_rate)
    if len(ref) < length:
        raise ConditionError(f"{manifest.path}: row {row.id!r} has a {len(ref) / sample_rate:g} s reference, shorter "
                             f"than the {length / sample_rate:g} s of condition {condition.label}; prepare the test "
                             f"set with longer references (--ref-seconds)")
    return crop(ref, length, rng)


def _oracle(manifest: Manifest, row: Utterance, length: int, sample_rate: int,
            rng: np.random.Generator) -> np.ndarray:
    """A ``length``-sample segment of the mixture's own noise; all of it when the mixture is shorter (a 2 s
    oracle of a 1.5 s utterance is its 1.5 s of noise: the record of the reference says how long it was)."""
    noise = _read(manifest, row.noisy, sample_rate) - _read(manifest, row.clean, sample_rate)
    return crop(noise, min(length, len(noise)), rng).astype(np.float32)


def check_condition(manifest: Manifest, condition: ReferenceCondition) -> None:
    """Every condition but ``null`` starts from each row's own reference (its level and length); ``oracle`` also
    needs the clean file."""
    if condition.kind == "null":
        return
    for row in manifest:
        if row.noise_ref is None:
            raise ConditionError(f"{manifest.path}: row {row.id!r} has no noise reference; the {condition.label} "
                                 f"condition needs one in every row")
        if condition.kind == "oracle" and row.clean is None:
            raise ConditionError(f"{manifest.path}: row {row.id!r} has no clean file to take the oracle noise from")


@dataclass(frozen=True)
class ConditionedReference:
    """The reference one row is enhanced with under a condition (``None``: the null condition) and where it came
    from (a JSON-ready record: the donor row of a borrowed reference, the stretches of an automatic one)."""

    samples: np.ndarray | None
    source: dict


def build_reference(manifest: Manifest, row: Utterance, condition: ReferenceCondition, sample_rate: int,
                    seed: int = 0, donor: Utterance | None = None) -> ConditionedReference:
    """The reference ``row`` is enhanced with under ``condition`` at ``sample_rate``, and its source; ``donor``
    is the row a borrowing condition takes it from (:func:`choose_donors`)."""
    if condition.kind == "null":
        return ConditionedReference(None, {"kind": "null"})
    own = _read(manifest, row.noise_ref, sample_rate)
    length = len(own) if condition.seconds is None else int(round(condition.seconds * sample_rate))
    rng = _rng(seed, condition, row.id, "segment")
    source: dict = {"kind": condition.kind, "seconds": round(length / sample_rate, 4)}
    if condition.kind == "matched":
        return ConditionedReference(_stored(manifest, row, length, sample_rate, rng, condition), source)
    if condition.kind == "oracle":
        samples = _oracle(manifest, row, length, sample_rate, rng)
        return ConditionedReference(samples, {**source, "seconds": round(len(samples) / sample_rate, 4)})
    if condition.kind == "white":
        return ConditionedReference(match_level(rng.standard_normal(length), own), source)
    if condition.kind == "auto":
        found = auto_reference(_read(manifest, row.noisy, sample_rate), sample_rate, length / sample_rate)
        return ConditionedReference(found.samples, {**source, **found.to_dict(), "kind": "auto"})
    if donor is None:
        raise ConditionError(f"the {condition.kind} condition needs a donor row for {row.id!r}")
    samples = match_level(_stored(manifest, donor, length, sample_rate, rng, condition), own)
    return ConditionedReference(samples, {**source, "donor": donor.id, "donor_noise_type": donor.noise_type})


def build_references(manifest: Manifest, condition: ReferenceCondition, sample_rate: int,
                     seed: int = 0) -> dict[str, ConditionedReference]:
    """Every row's reference under ``condition`` and its source, by utterance id (checked up front,
    deterministic for ``seed``)."""
    check_condition(manifest, condition)
    rows = {row.id: row for row in manifest}
    donors = choose_donors(manifest, condition, seed)
    return {row.id: build_reference(manifest, row, condition, sample_rate, seed,
                                    rows[donors[row.id]] if row.id in donors else None) for row in manifest}


def condition_references(manifest: Manifest, condition: ReferenceCondition, sample_rate: int,
                         seed: int = 0) -> dict[str, np.ndarray | None]:
    """Every row's reference under ``condition``, by utterance id (``None``: enhanced with the null condition)."""
    return {key: built.samples for key, built in build_references(manifest, condition, sample_rate, seed).items()}


#: Where an evaluation under a condition keeps the references it enhanced with, and their sources.
REFERENCES_DIR = "references"
REFERENCES_FILE = "references.json"


def write_references(manifest: Manifest, condition: ReferenceCondition, folder: Path,
                     sample_rate: int) -> dict[str, Path | None]:
    """Write every row's reference under ``condition`` to ``folder/references/<id>.wav`` (float WAV at
    ``sample_rate``, read back exactly) and their sources to ``folder/references.json``; the path of each row's
    reference by utterance id (``None``: the null condition). The condition's draws use seed 0 whatever the
    sampler seed, so runs with several sampler seeds differ in their sampler noise alone."""
    built = build_references(manifest, condition, sample_rate)
    paths: dict[str, Path | None] = {}
    for key, reference in built.items():
        paths[key] = None
        if reference.samples is not None:
            paths[key] = output_path(folder / REFERENCES_DIR, key, str(manifest.path))
            save_audio(paths[key], reference.samples, sample_rate)
    write_json(folder / REFERENCES_FILE, {"condition": condition.label, "sample_rate": sample_rate,
                                          "rows": {key: reference.source for key, reference in built.items()}})
    return paths
