"""Official-layout test checkpoints, written once per session (the towers are tens of millions of parameters)."""

import pytest

from tests.dummies import write_clap_checkpoint, write_panns_checkpoint


@pytest.fixture(scope="session")
def clap_ckpt(tmp_path_factory):
    """(path, audio-tower state) of a random HTSAT-tiny saved as ``630k-audioset-best.pt`` would be."""
    path = tmp_path_factory.mktemp("clap") / "630k-audioset-best.pt"
    return path, write_clap_checkpoint(path)


@pytest.fixture(scope="session")
def panns_ckpt(tmp_path_factory):
    """(path, Cnn14 state) of a random Cnn14 saved as ``Cnn14_mAP=0.431.pth`` would be."""
    path = tmp_path_factory.mktemp("panns") / "Cnn14_mAP=0.431.pth"
    return path, write_panns_checkpoint(path)

