"""ESC-50 (Piczak 2015, "ESC: Dataset for Environmental Sound Classification"): 2000 five-second clips in 50
categories and 5 folds. Official layout: ``meta/esc50.csv`` (``filename, fold, target, category, esc10,
src_file, take``) and ``audio/<filename>`` (44.1 kHz mono WAV)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ncse_cli.data.corpora.base import NOISE_CORPORA, TableLayout, index_table
from ncse_cli.data.noise import NoiseClip

LAYOUT = TableLayout(
    corpus="esc50", title="ESC-50", table="meta/esc50.csv",
    columns=("filename", "fold", "target", "category", "esc10", "src_file", "take"),
    file_column="filename", label_column="category", label_id=("target", 49), num_folds=5,
    locate=lambda root, name, fold: root / "audio" / name)

#: Categories whose sounds are short and sudden: the "sudden events" of the non-stationary test set.
IMPULSIVE_CATEGORIES = ("dog", "door_wood_knock", "mouse_click", "keyboard_typing", "can_opening",
                        "glass_breaking", "clapping", "footsteps", "sneezing", "coughing", "clock_tick",
                        "fireworks", "car_horn", "crow", "water_drops")


#: ESC-50's five major categories, ten classes each (targets 0-9, 10-19, ... in the order of the paper's table).
MAJOR_CATEGORIES = {
    "Animals": ("dog", "rooster", "pig", "cow", "frog", "cat", "hen", "insects", "sheep", "crow"),
    "Natural soundscapes & water": ("rain", "sea_waves", "crackling_fire", "crickets", "chirping_birds",
                                    "water_drops", "wind", "pouring_water", "toilet_flush", "thunderstorm"),
    "Human, non-speech": ("crying_baby", "sneezing", "clapping", "breathing", "coughing", "footsteps", "laughing",
                          "brushing_teeth", "snoring", "drinking_sipping"),
    "Interior/domestic": ("door_wood_knock", "mouse_click", "keyboard_typing", "door_wood_creaks", "can_opening",
                          "washing_machine", "vacuum_cleaner", "clock_alarm", "clock_tick", "glass_breaking"),
    "Exterior/urban": ("helicopter", "chainsaw", "siren", "car_horn", "engine", "train", "church_bells", "airplane",
                       "fireworks", "hand_saw"),
}
#: The major category of each ESC-50 class.
MAJOR_CATEGORY = {name: major for major, names in MAJOR_CATEGORIES.items() for name in names}


@NOISE_CORPORA.register("esc50")
def index_esc50(root: Path | None, categories: Sequence[str] = (), folds: Sequence[str] = ()) -> list[NoiseClip]:
    """ESC-50 clips of the chosen ``categories`` (names such as ``dog``) and ``folds`` (1-5); empty means all."""
    return index_table(LAYOUT, root, categories, folds)
