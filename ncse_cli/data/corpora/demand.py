"""DEMAND (Thiemann, Ito & Vincent 2013, "The Diverse Environments Multi-channel Acoustic Noise Database"): 18
environments, each recorded with a 16-microphone array for five minutes. Official layout: one folder per
environment (``DKITCHEN``, ``TBUS``, ...) holding ``ch01.wav`` .. ``ch16.wav``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from ncse_cli.data.corpora.base import NOISE_CORPORA, CorpusError, check_selection, require_dir
from ncse_cli.data.noise import NoiseClip

CHANNEL = re.compile(r"^ch(\d\d)\.wav$")
#: Channels used when none are chosen: the array's microphones record nearly the same sound, so one is enough.
DEFAULT_CHANNELS = ("ch01",)
#: The DEMAND environments that VoiceBank-DEMAND's test set is made of (its log labels bus, cafe, living,
#: office, psquare): exclude them from training pools to keep that test set unseen.
VOICEBANK_TEST_ENVIRONMENTS = ("TBUS", "SCAFE", "DLIVING", "OOFFICE", "SPSQUARE")


@NOISE_CORPORA.register("demand")
def index_demand(root: Path | None, categories: Sequence[str] = (), folds: Sequence[str] = ()) -> list[NoiseClip]:
    """DEMAND channel files of the chosen environments (``categories``) and channels (``folds``, e.g. ``ch01``)."""
    root = require_dir(root, "DEMAND")
    environments = {d.name: d for d in sorted(root.iterdir()) if d.is_dir() and _channels(d)}
    if not environments:
        raise CorpusError(f"{root}: not a DEMAND folder (expected environment folders with ch01.wav .. ch16.wav)")
    chosen = check_selection(categories, list(environments), f"{root}: environments")
    wanted = [str(f).lower() for f in folds] or list(DEFAULT_CHANNELS)
    bad = [f for f in wanted if not re.fullmatch(r"ch(0[1-9]|1[0-6])", f)]
    if bad:
        raise CorpusError(f"{root}: DEMAND channels are ch01..ch16, got {', '.join(bad)}")
    clips = []
    for env in sorted(chosen):
        for channel in wanted:
            path = environments[env] / f"{channel}.wav"
            if not path.is_file():
                raise CorpusError(f"{path}: DEMAND channel file not found")
            clips.append(NoiseClip(str(path), "demand", env, channel))
    return clips


def _channels(folder: Path) -> list[str]:
    return [f.name for f in folder.iterdir() if CHANNEL.match(f.name)]
