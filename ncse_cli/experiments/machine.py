"""Where this machine keeps the corpora and pre-trained weights: never written into an experiment file.

A small YAML file (``--machine FILE``, else ``$NCSE_MACHINE``, else ``~/.config/ncse/machine.yaml`` when it
exists)::

    corpora:
      voicebank: /data/VoiceBank-DEMAND      # ncse prepare vbdemand --root
      esc50: /data/ESC-50                    # ncse prepare ood / nonstationary --esc50
      urbansound8k: /data/UrbanSound8K
      demand: /data/DEMAND
      wham: /data/wham_noise
    weights:
      clap: ~/weights/630k-audioset-best.pt  # ncse train --clap-ckpt (clap and clap-sequence encoders)
      panns: ~/weights/Cnn14_mAP=0.431.pth   # ncse train --panns-ckpt

Flags add to it (``--corpus esc50=/data/ESC-50``, ``--weights clap=PATH``). Paths are expanded (``~``) and taken
relative to the machine file's folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ncse_cli.config import ConfigError, from_dict, load_yaml

MACHINE_ENV = "NCSE_MACHINE"
DEFAULT_MACHINE_FILE = Path("~/.config/ncse/machine.yaml")
#: The corpora experiment files may ask for, with the ``ncse prepare`` option each feeds.
KNOWN_CORPORA = ("voicebank", "esc50", "urbansound8k", "demand", "wham", "audioset")
#: Pre-trained tower families (the encoders' :class:`~ncse_cli.encoders.pretrained.OfficialWeights` flags).
KNOWN_WEIGHTS = ("clap", "panns")


@dataclass(frozen=True)
class Machine:
    """Corpus folders and tower checkpoints by name."""

    corpora: dict[str, str] = field(default_factory=dict)
    weights: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for kind, names, known in (("corpus", self.corpora, KNOWN_CORPORA), ("weights", self.weights, KNOWN_WEIGHTS)):
            unknown = sorted(set(names) - set(known))
            if unknown:
                raise ConfigError(f"unknown {kind} {', '.join(unknown)} in the machine settings; known: "
                                  f"{', '.join(known)}")


def _pairs(values: Sequence[str], flag: str) -> dict[str, str]:
    """``["esc50=/data/ESC-50"] -> {"esc50": "/data/ESC-50"}``."""
    out = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"{flag} takes NAME=PATH, got {value!r}")
        out[name.strip()] = path.strip()
    return out


def load_machine(path: str | os.PathLike | None = None, corpora: Sequence[str] = (),
                 weights: Sequence[str] = ()) -> Machine:
    """The machine file (``path``, ``$NCSE_MACHINE`` or the default place; none at all is an empty machine), with
    the ``NAME=PATH`` pairs of ``--corpus`` and ``--weights`` added over it."""
    chosen = path or os.environ.get(MACHINE_ENV)
    file = Path(chosen).expanduser() if chosen else DEFAULT_MACHINE_FILE.expanduser()
    tree: dict = {}
    if chosen or file.is_file():
        tree = load_yaml(file)
        try:
            base = from_dict(Machine, tree, str(file))
        except ConfigError as err:
            raise ConfigError(err if str(err).startswith(str(file)) else f"{file}: {err}") from None
        tree = {"corpora": _resolved(base.corpora, file.parent), "weights": _resolved(base.weights, file.parent)}
    return Machine({**tree.get("corpora", {}), **_resolved(_pairs(corpora, "--corpus"), Path.cwd())},
                   {**tree.get("weights", {}), **_resolved(_pairs(weights, "--weights"), Path.cwd())})


def _resolved(paths: dict[str, str], base: Path) -> dict[str, str]:
    return {name: str((base / Path(path).expanduser()).resolve()) for name, path in paths.items()}
