"""``ncse prepare ... --ref-source auto``: beside each manifest a recipe wrote, the same rows with references cut
from the mixtures' own pauses.

``<name>_auto.jsonl`` shares the noisy and clean files of ``<name>.jsonl``; only each row's ``noise_ref`` differs:
it is the reference ``ncse evaluate --reference auto`` enhances that row with
(:func:`ncse_cli.evaluation.conditions.build_reference`, which calls :func:`ncse_cli.auto_reference.auto_reference`),
as long as the row's own reference, written to ``<name>_auto/noise_ref/<id>.wav``. The two manifests are therefore
paired utterance by utterance, and a report shows auto references beside true ones on every test set. A row whose
pauses do not add up to a reference keeps no ``noise_ref`` (it is enhanced with the null condition) and says why
in ``auto_reference_reason``; ``auto_reference`` holds the stretches used (seconds of the noisy file).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ncse_cli.audio import save_audio
from ncse_cli.data.manifest import Manifest, Utterance, read_manifest, write_manifest
from ncse_cli.data.prepare.runner import ManifestSummary, PrepareResult
from ncse_cli.progress import Progress, open_task

AUTO = "auto"
SUFFIX = "_auto"


def auto_row(manifest: Manifest, row: Utterance, folder: Path) -> Utterance:
    """``row`` with its reference replaced by one cut from its noisy file's pauses (written under ``folder``)."""
    from ncse_cli.evaluation.conditions import ReferenceCondition, build_reference

    if row.noise_ref is None:  # the reference length is the row's own; a row without one keeps none
        return replace(row, extra={**row.extra, "ref_source": AUTO, "auto_reference": "",
                                   "auto_reference_reason": "the row has no reference to take the length from"})
    built = build_reference(manifest, row, ReferenceCondition(AUTO), row.sample_rate)
    extra = {**row.extra, "ref_source": AUTO,
             "auto_reference": ";".join(f"{a:.3f}-{b:.3f}" for a, b in built.source["stretches"])}
    if built.samples is None:
        return replace(row, noise_ref=None, extra={**extra, "auto_reference_reason": built.source["reason"]})
    path = folder / "noise_ref" / f"{row.id}.wav"
    save_audio(path, built.samples, row.sample_rate)
    return replace(row, noise_ref=path.relative_to(manifest.root).as_posix(), extra=extra)


def derive_auto_manifest(summary: ManifestSummary, overwrite: bool = False,
                         progress: Progress | None = None) -> ManifestSummary:
    """Write ``<name>_auto.jsonl`` beside the manifest of ``summary`` (kept when it is newer than its source and
    holds the same rows, unless ``overwrite``)."""
    manifest = read_manifest(summary.path)
    name = summary.name + SUFFIX
    path = summary.path.with_name(name + ".jsonl")
    if not overwrite and path.is_file() and path.stat().st_mtime_ns >= summary.path.stat().st_mtime_ns:
        done = read_manifest(path)
        if [row.id for row in done] == [row.id for row in manifest]:
            return ManifestSummary(name, path, len(done), 0, len(done), 0, summary.seconds)
    task = open_task(progress, f"auto references {summary.name}")
    rows = []
    for count, row in enumerate(manifest, start=1):
        rows.append(auto_row(manifest, row, manifest.root / name))
        if task is not None:
            task(count, len(manifest))
    write_manifest(path, rows)
    return ManifestSummary(name, path, len(rows), len(rows), 0, 0, summary.seconds)


def with_auto_references(result: PrepareResult, overwrite: bool = False,
                         progress: Progress | None = None) -> PrepareResult:
    """``result`` with an ``_auto`` manifest derived beside each of its manifests; rows that got no automatic
    reference are counted among the notices."""
    derived = [derive_auto_manifest(summary, overwrite, progress) for summary in result.manifests]
    notices = dict(result.notices)
    for summary in derived:
        without = sum(row.noise_ref is None for row in read_manifest(summary.path))
        if without:
            notices[f"{summary.name}: no pause long enough for an automatic reference (null condition)"] = without
    return replace(result, manifests=[*result.manifests, *derived], notices=notices)
