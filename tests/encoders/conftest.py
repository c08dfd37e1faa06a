"""Official-layout test checkpoints, written once per test run (the towers are tens of millions of parameters;
writing one takes 3-4 s): the first worker to need one writes it, under a file lock, into the folder all of the
run's workers share; the others read it back."""

import os
from pathlib import Path
from typing import Callable

import pytest
import torch
from filelock import FileLock

from ncse_cli.encoders.clap import AUDIO_PREFIXES
from ncse_cli.safeload import read_torch_checkpoint
from tests.dummies import write_clap_checkpoint, write_panns_checkpoint


def _written_once(tmp_path_factory, name: str,
                  write: Callable[[Path], dict[str, torch.Tensor]]) -> tuple[Path, dict[str, torch.Tensor]]:
    """(path, tower state) of the checkpoint ``name``, written by ``write`` once for all workers (xdist's recipe
    for session data: the run's base folder, shared by the workers, is the parent of each worker's own)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:  # no xdist: this process is the run
        path = tmp_path_factory.mktemp("weights") / name
        return path, write(path)
    folder = tmp_path_factory.getbasetemp().parent / "weights"
    folder.mkdir(exist_ok=True)
    path = folder / name
    with FileLock(f"{path}.lock"):
        if path.is_file():
            return path, _tower_state(path)
        partial = folder / f".{name}.partial"  # a worker stopped while writing leaves no file of the final name
        state = write(partial)
        partial.rename(path)
        return path, state


def _tower_state(path: Path) -> dict[str, torch.Tensor]:
    """The tower's state as the writer returned it: CLAP's audio keys without ``module.``, PANNs' ``model``."""
    obj = read_torch_checkpoint(path)
    if "model" in obj:
        return obj["model"]
    return {k.removeprefix("module."): v for k, v in obj["state_dict"].items()
            if k.removeprefix("module.").startswith(AUDIO_PREFIXES)}


@pytest.fixture(scope="session")
def clap_ckpt(tmp_path_factory):
    """(path, audio-tower state) of a random HTSAT-tiny saved as ``630k-audioset-best.pt`` would be."""
    return _written_once(tmp_path_factory, "630k-audioset-best.pt", write_clap_checkpoint)


@pytest.fixture(scope="session")
def panns_ckpt(tmp_path_factory):
    """(path, Cnn14 state) of a random Cnn14 saved as ``Cnn14_mAP=0.431.pth`` would be."""
    return _written_once(tmp_path_factory, "Cnn14_mAP=0.431.pth", write_panns_checkpoint)
