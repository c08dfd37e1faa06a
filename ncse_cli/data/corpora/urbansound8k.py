"""UrbanSound8K (Salamon, Jacoby & Bello 2014, "A Dataset and Taxonomy for Urban Sound Research"): 8732 clips
of up to 4 s in 10 classes and 10 folds. Official layout: ``metadata/UrbanSound8K.csv`` (``slice_file_name, fsID,
start, end, salience, fold, classID, class``) and ``audio/fold<k>/<slice_file_name>`` (varied rates, mono or
stereo: resampled and mixed down on reading)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ncse_cli.data.corpora.base import NOISE_CORPORA, TableLayout, index_table
from ncse_cli.data.noise import NoiseClip

LAYOUT = TableLayout(
    corpus="urbansound8k", title="UrbanSound8K", table="metadata/UrbanSound8K.csv",
    columns=("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"),
    file_column="slice_file_name", label_column="class", label_id=("classID", 9), num_folds=10,
    locate=lambda root, name, fold: root / "audio" / f"fold{fold}" / name)

#: Classes whose sounds are short and sudden.
IMPULSIVE_CLASSES = ("dog_bark", "gun_shot", "car_horn")


@NOISE_CORPORA.register("urbansound8k")
def index_urbansound8k(root: Path | None, categories: Sequence[str] = (),
                       folds: Sequence[str] = ()) -> list[NoiseClip]:
    """UrbanSound8K clips of the chosen ``categories`` (classes such as ``siren``) and ``folds`` (1-10)."""
    return index_table(LAYOUT, root, categories, folds)
