"""AudioSet (Gemmeke et al. 2017, "Audio Set: An ontology and human-labeled dataset for audio events"): 10 s
segments of YouTube videos with one or more of 527 labels, as a noise pool (plan section 2.4).

AudioSet ships no audio, only segment lists; a local copy is those lists plus the clips a downloader fetched:

* ``balanced_train_segments.csv``, ``eval_segments.csv``, ``unbalanced_train_segments.csv`` (the subsets, chosen
  as ``folds``): three ``#`` comment lines, then ``YTID, start_seconds, end_seconds, "mid,mid,..."``;
* ``class_labels_indices.csv``: ``index,mid,display_name`` (the categories are display names such as ``Rain``);
* audio files anywhere under the folder, named by YouTube id and, optionally, start (and end) time, as the common
  downloaders store them: ``<YTID>.wav``, ``Y<YTID>.wav`` (PANNs), ``<YTID>_<start>.wav`` (AudioCaps),
  ``<YTID>_<start>_<end>.wav`` or ``Y<YTID>_<start>_<end>.flac`` (DCASE), with times in seconds (``30``,
  ``30.000``) or milliseconds (``30000``). WAV, FLAC, OGG and MP3 are read.

The lists may sit in the folder itself or in its ``metadata/`` subfolder. Videos disappear from YouTube, so a copy
never holds every listed segment: listed segments without a file are skipped (and counted in the log), as are
files that match no listed segment. Clips whose labels include foreground voice (speech, shouting, singing:
:data:`VOICE_LABELS`) are left out, since a noise pool for speech enhancement must not hold speech, unless a
voice label is asked for by name. A clip's category is the first of its labels that was asked for, else its first
label.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from ncse_cli.audio import is_audio_file
from ncse_cli.data.corpora.base import NOISE_CORPORA, CorpusError, check_selection, read_table, require_dir
from ncse_cli.data.noise import NoiseClip

log = logging.getLogger("ncse")

#: Subset name -> segment list file.
SUBSETS = {"balanced_train": "balanced_train_segments.csv", "eval": "eval_segments.csv",
           "unbalanced_train": "unbalanced_train_segments.csv"}
LABELS_FILE = "class_labels_indices.csv"
METADATA_DIRS = (".", "metadata")
#: Labels of foreground voice (AudioSet indices 0-15 and 27-37: speech, shouting, whispering, singing).
VOICE_LABELS = frozenset({
    "Speech", "Male speech, man speaking", "Female speech, woman speaking", "Child speech, kid speaking",
    "Conversation", "Narration, monologue", "Babbling", "Speech synthesizer", "Shout", "Bellow", "Whoop", "Yell",
    "Battle cry", "Children shouting", "Screaming", "Whispering", "Singing", "Choir", "Yodeling", "Chant", "Mantra",
    "Male singing", "Female singing", "Child singing", "Synthetic singing", "Rapping", "Humming"})
#: A YouTube id: eleven characters of A-Z, a-z, 0-9, ``_`` and ``-``.
_NAME = re.compile(r"(?P<id>[A-Za-z0-9_-]{11})(?:_(?P<start>\d+(?:\.\d+)?)(?:_(?P<end>\d+(?:\.\d+)?))?)?")


@dataclass(frozen=True)
class Segment:
    """One listed segment: its video, start time (seconds), labels (display names) and subset."""

    ytid: str
    start: float
    labels: tuple[str, ...]
    subset: str


def _metadata(root: Path, name: str) -> Path | None:
    return next((root / d / name for d in METADATA_DIRS if (root / d / name).is_file()), None)


def read_class_labels(path: Path) -> dict[str, str]:
    """``mid -> display name`` from ``class_labels_indices.csv``."""
    table = read_table(path, ("index", "mid", "display_name"), "AudioSet class labels")
    return dict(zip(table["mid"].str.strip(), table["display_name"].str.strip()))


def read_segments(path: Path, subset: str, names: dict[str, str]) -> list[Segment]:
    """The segments of one list; a malformed line or an unknown label raises naming the file and line."""
    try:
        table = pd.read_csv(path, comment="#", header=None, dtype=str, keep_default_na=False, skipinitialspace=True,
                            names=["ytid", "start", "end", "labels"], quotechar='"')
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise CorpusError(f"{path}: not an AudioSet segment list ({str(err).strip().splitlines()[0]})") from None
    segments = []
    for line, (ytid, start, labels) in enumerate(zip(table["ytid"], table["start"], table["labels"]),
                                                 start=_first_data_line(path)):
        try:
            begin = float(start)
        except ValueError:
            raise CorpusError(f"{path}:{line}: start_seconds must be a number, got {start!r}") from None
        mids = [m.strip() for m in labels.split(",") if m.strip()]
        unknown = [m for m in mids if m not in names]
        if not ytid.strip() or not mids or unknown:
            what = f"unknown label {unknown[0]}" if unknown else "a YouTube id and at least one label expected"
            raise CorpusError(f"{path}:{line}: {what}")
        segments.append(Segment(ytid.strip(), begin, tuple(names[m] for m in mids), subset))
    return segments


def _first_data_line(path: Path) -> int:
    """The line number of the first segment (after the comment lines), so errors point where an editor would."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        return next((n for n, line in enumerate(handle, start=1) if not line.startswith("#")), 1)


def clip_candidates(stem: str) -> list[tuple[str, float | None]]:
    """The (YouTube id, start in seconds or milliseconds as written) readings of a file name: with and without
    the ``Y`` prefix some downloaders add (an id may itself start with Y, so both are tried)."""
    readings = []
    for text in (stem[1:], stem) if stem.startswith("Y") else (stem,):
        match = _NAME.fullmatch(text)
        if match is not None:
            start = match.group("start")
            readings.append((match.group("id"), None if start is None else float(start)))
    return readings


def _same_start(written: float | None, listed: float) -> bool:
    """Whether a start time in a file name (absent, seconds, or milliseconds) is the listed one."""
    return written is None or math.isclose(written, listed, abs_tol=1e-3) or math.isclose(written, listed * 1000,
                                                                                           abs_tol=1.0)


def match_file(path: Path, segments: dict[str, Segment]) -> Segment | None:
    """The listed segment an audio file holds, if any."""
    for ytid, start in clip_candidates(path.stem):
        segment = segments.get(ytid)
        if segment is not None and _same_start(start, segment.start):
            return segment
    return None


def _category(labels: Sequence[str], wanted: set[str]) -> str:
    return next((label for label in labels if label in wanted), labels[0])


@NOISE_CORPORA.register("audioset")
def index_audioset(root: Path | None, categories: Sequence[str] = (), folds: Sequence[str] = ()) -> list[NoiseClip]:
    """Downloaded AudioSet clips of the chosen subsets (``folds``: balanced_train, eval, unbalanced_train; empty:
    every list present) having one of the chosen labels (``categories``: display names; empty: all but voice)."""
    root = require_dir(root, "AudioSet")
    labels_path = _metadata(root, LABELS_FILE)
    if labels_path is None:
        raise CorpusError(f"{root}: {LABELS_FILE} not found (in the folder or its metadata/ subfolder)")
    names = read_class_labels(labels_path)
    lists = {s: _metadata(root, f) for s, f in SUBSETS.items()}
    present = [s for s, p in lists.items() if p is not None]
    if not present:
        raise CorpusError(f"{root}: no AudioSet segment list ({', '.join(SUBSETS.values())})")
    chosen = check_selection([str(f) for f in folds], list(SUBSETS), f"{root}: AudioSet subsets")
    missing = sorted(s for s in chosen if lists[s] is None)
    if folds and missing:
        raise CorpusError(f"{root}: {SUBSETS[missing[0]]} not found (asked for subset {missing[0]})")
    wanted = check_selection(list(categories), sorted(set(names.values())), f"{labels_path}: display_name")
    segments = {seg.ytid: seg for s in sorted(chosen) if lists[s] is not None
                for seg in read_segments(lists[s], s, names)}
    keep_voice = bool(VOICE_LABELS.intersection(categories))
    files = sorted(p for p in root.rglob("*") if is_audio_file(p) and p.is_file())
    clips, seen = [], set()
    for path in files:
        segment = match_file(path, segments)
        if segment is None or segment.ytid in seen:
            continue
        seen.add(segment.ytid)
        if (keep_voice or not VOICE_LABELS.intersection(segment.labels)) and wanted.intersection(segment.labels):
            clips.append(NoiseClip(str(path), "audioset", _category(segment.labels, wanted), segment.subset))
    log.info("AudioSet under %s: %d of %d listed segments downloaded, %d selected", root, len(seen), len(segments),
             len(clips))
    if not clips:
        raise CorpusError(f"{root}: none of the {len(files)} audio files is a downloaded segment of "
                          f"{', '.join(sorted(chosen))} with the chosen labels (named <YTID>[_<start>[_<end>]].wav)")
    return clips
