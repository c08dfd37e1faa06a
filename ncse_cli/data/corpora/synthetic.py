"""Synthetic noise as a corpus: one generated "clip" per kind (white, pink, brown, babble, hum, clicks)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ncse_cli.data.corpora.base import NOISE_CORPORA, CorpusError, check_selection
from ncse_cli.data.noise import NoiseClip, synthetic_clip


@NOISE_CORPORA.register("synthetic")
def index_synthetic(root: Path | None, categories: Sequence[str] = (),
                    folds: Sequence[str] = ()) -> list[NoiseClip]:
    """One clip per chosen synthetic noise kind (``categories``; empty means all). Takes no folder or folds."""
    from ncse_cli.data.synth import SYNTH_NOISES  # the generators import SciPy's signal package: not at startup

    if root is not None:
        raise CorpusError(f"synthetic noise is generated, it takes no folder (got {root})")
    if folds:
        raise CorpusError("synthetic noise has no folds")
    kinds = check_selection(categories, SYNTH_NOISES.names(), "synthetic noise kinds")
    return [synthetic_clip(kind) for kind in sorted(kinds)]
