"""WHAM! noise (Wichern et al. 2019, "WHAM!: Extending Speech Separation to Noisy Environments"): ambient
recordings from restaurants, cafes, bars and parks. Official layout of ``wham_noise``: ``tr/``, ``cv/`` and ``tt/``
folders of WAV files (two-channel; mixed down to mono on reading), plus an optional ``metadata/`` folder."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ncse_cli.data.corpora.base import NOISE_CORPORA, CorpusError, require_dir
from ncse_cli.data.noise import NoiseClip

SUBSETS = ("tr", "cv", "tt")
CATEGORY = "urban_ambience"


@NOISE_CORPORA.register("wham")
def index_wham(root: Path | None, categories: Sequence[str] = (), folds: Sequence[str] = ()) -> list[NoiseClip]:
    """WHAM! noise files of the chosen subsets (``folds`` among tr, cv, tt; empty means every one present).

    WHAM! has no categories; its one category is ``urban_ambience``.
    """
    root = require_dir(root, "WHAM! noise")
    if categories and set(categories) != {CATEGORY}:
        raise CorpusError(f"{root}: WHAM! noise has one category, {CATEGORY!r}; got {', '.join(categories)}")
    unknown = sorted(set(folds) - set(SUBSETS))
    if unknown:
        raise CorpusError(f"{root}: unknown WHAM! subset {', '.join(unknown)}; subsets are {', '.join(SUBSETS)}")
    present = [s for s in SUBSETS if (root / s).is_dir()]
    if not present:
        raise CorpusError(f"{root}: not a WHAM! noise folder (expected subfolders {', '.join(SUBSETS)})")
    chosen = list(folds) or present
    clips = []
    for subset in chosen:
        folder = root / subset
        if not folder.is_dir():
            raise CorpusError(f"{folder}: WHAM! subset folder not found")
        files = sorted(folder.glob("*.wav"))
        if not files:
            raise CorpusError(f"{folder}: no .wav files")
        clips += [NoiseClip(str(f), "wham", CATEGORY, subset) for f in files]
    return clips
