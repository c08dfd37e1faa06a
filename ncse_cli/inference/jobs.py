"""What enhancement takes: one job per file, from a file, a folder of them, or a JSONL manifest.

A manifest brings each row's noise reference; a file or folder has none. ``--noise-ref`` says what the others
use (:func:`parse_noise_ref`): ``auto`` (the default) a reference cut from each input's own pauses
(:mod:`ncse_cli.auto_reference`), ``none`` the null condition, a path that file for every input (it replaces a
manifest's references too). Outputs are ``<out>/<id>.wav``: a file keeps its name, a folder its tree (relative
paths), a manifest row is named by its id. The id also seeds the utterance's sampler noise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ncse_cli.audio import AUDIO_SUFFIXES, AudioError, is_audio_file
from ncse_cli.data.manifest import Manifest, read_manifest
from ncse_cli.errors import NcseError
from ncse_cli.workspace import file_in_the_way

MANIFEST_SUFFIX = ".jsonl"
#: What an input without a noise reference of its own is conditioned on: ``auto``, a reference cut from its own
#: pauses; ``none``, the null condition (unconditional enhancement).
REFERENCE_MODES = ("auto", "none")


class InputError(NcseError, ValueError):
    """An ``--input`` that is not an audio file, a folder with audio files or a manifest."""


@dataclass(frozen=True)
class EnhanceJob:
    """One file to enhance: its id (seeds its generator), input, output path and optional noise reference."""

    id: str
    noisy: Path
    out: Path
    noise_ref: Path | None = None


@dataclass(frozen=True)
class EnhanceInputs:
    """The jobs of one input (a file, folder or manifest) writing into one output folder."""

    jobs: list[EnhanceJob]
    kind: str  #: "file", "folder" or "manifest"
    out_dir: Path
    label: str  #: names the input in progress tasks (``check <label>``, ``enhance <label>``)
    noise_ref: Path | None = None  #: the reference given for every job, if any
    reference: str = "none"  #: what jobs without a reference use: one of :data:`REFERENCE_MODES`

    @property
    def without_reference(self) -> int:
        return sum(job.noise_ref is None for job in self.jobs)

    def record(self, conditional: bool = True) -> dict[str, str | None]:
        """What the outputs depend on besides the model and its settings: a reference given for every job, and,
        where some job has none and the model is conditioned, what those jobs use instead (``reference``)."""
        record = {"noise_ref": None if self.noise_ref is None else str(self.noise_ref.resolve())}
        if conditional and self.without_reference:
            record["reference"] = self.reference
        return record


def output_path(out_dir: Path, key: str, where: str) -> Path:
    """``out_dir/<key>.wav``; a key that would leave ``out_dir`` (absolute, ``..``) is an error."""
    parts = PurePosixPath(key).parts
    if not parts or PurePosixPath(key).is_absolute() or ".." in parts or key.startswith("~"):
        raise InputError(f"{where}: id {key!r} cannot name a file inside the output folder")
    return out_dir.joinpath(*parts).with_name(parts[-1] + ".wav")


def manifest_inputs(manifest: Manifest, out_dir: Path, noise_ref: Path | None = None,
                    label: str | None = None, reference: str = "none") -> EnhanceInputs:
    """One job per manifest row: the row's noisy file and reference (or ``noise_ref`` for every row); rows
    without one use ``reference`` (:data:`REFERENCE_MODES`)."""
    jobs = []
    for row in manifest:
        ref = noise_ref if noise_ref is not None else manifest.resolve(row.noise_ref)
        jobs.append(EnhanceJob(row.id, manifest.resolve(row.noisy), output_path(out_dir, row.id, str(manifest.path)),
                               ref))
    return EnhanceInputs(jobs, "manifest", out_dir, label or manifest.name, noise_ref, reference)


def folder_audio(folder: Path, exclude: Path | None = None) -> list[Path]:
    """Audio files under ``folder`` (recursively, hidden files skipped), sorted; none from under ``exclude``
    (an output folder inside the input folder, whose files must not become inputs of a re-run)."""
    skip = None if exclude is None else exclude.resolve()
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_audio_file(p)
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts)
                  and (skip is None or not p.resolve().is_relative_to(skip)))


def parse_noise_ref(noise_ref: str | os.PathLike | None) -> tuple[Path | None, str]:
    """``--noise-ref``: ``(a reference file for every input or None, what inputs without one use)``. The words
    ``auto`` and ``none`` are modes (a file of that name is ``./auto``); ``None`` (not given) is ``auto``."""
    if noise_ref is None or str(noise_ref) in REFERENCE_MODES:
        return None, "auto" if noise_ref is None else str(noise_ref)
    ref = Path(noise_ref)
    if not ref.is_file():
        raise AudioError(f"{ref}: no such audio file (--noise-ref takes auto, none or a file)")
    return ref, "none"


def resolve_inputs(source: str | os.PathLike, out_dir: str | os.PathLike,
                   noise_ref: str | os.PathLike | None = "auto") -> EnhanceInputs:
    """Jobs for ``source`` (file, folder or ``.jsonl`` manifest) writing into ``out_dir``; ``noise_ref`` as
    :func:`parse_noise_ref` reads it."""
    source, out_dir = Path(source), Path(out_dir)
    blocker = file_in_the_way(out_dir)
    if blocker is not None:
        raise InputError(f"{blocker}: not a folder, so it cannot hold the outputs (--out {out_dir})")
    ref, mode = parse_noise_ref(noise_ref)
    if source.is_file() and source.suffix == MANIFEST_SUFFIX:
        inputs = manifest_inputs(read_manifest(source), out_dir, ref, reference=mode)
    elif source.is_file():
        if not is_audio_file(source):
            raise InputError(f"{source}: not an audio file ncse reads ({', '.join(AUDIO_SUFFIXES)}) nor a "
                             f"{MANIFEST_SUFFIX} manifest")
        job = EnhanceJob(source.stem, source, out_dir / f"{source.stem}.wav", ref)
        inputs = EnhanceInputs([job], "file", out_dir, source.name, ref, mode)
    elif source.is_dir():
        files = folder_audio(source, exclude=out_dir)
        if not files:
            raise InputError(f"{source}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in this folder")
        jobs = [EnhanceJob(p.relative_to(source).with_suffix("").as_posix(), p,
                           out_dir / p.relative_to(source).with_suffix(".wav"), ref) for p in files]
        inputs = EnhanceInputs(jobs, "folder", out_dir, source.name, ref, mode)
    else:
        raise InputError(f"{source}: no such file or folder")
    _check_outputs(inputs.jobs)
    return inputs


def _check_outputs(jobs: list[EnhanceJob]) -> None:
    """Refuse outputs that would overwrite an input or collide with each other (``m00.flac`` and ``m00.ogg`` of
    one folder, two manifest rows of one id), naming both inputs."""
    seen: dict[Path, EnhanceJob] = {}
    for job in jobs:
        out = job.out.resolve()
        if out == job.noisy.resolve() or (job.noise_ref is not None and out == job.noise_ref.resolve()):
            raise InputError(f"{job.out}: the output would overwrite its input; choose another --out")
        if out in seen:
            raise InputError(f"{job.out}: both {seen[out].noisy} and {job.noisy} would be enhanced into this file; "
                             f"rename one of them")
        seen[out] = job

