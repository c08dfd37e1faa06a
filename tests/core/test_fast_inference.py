"""Speed changes of inference leave the function alone: a channels-last model gives the outputs of the contiguous
one (fp32, relative 1e-5: only the order of float sums differs), for every injection and layout, and models
loaded for enhancement are channels-last."""

import copy

import pytest
import torch

from ncse_cli.inference.enhancer import Enhancer
from ncse_cli.inference.settings import EnhanceSettings
from tests.dummies import NCSNPP_48K_OPTIONS, randomize_, tiny_model

SEQUENCE = {"name": "sequence", "dim": 32, "channels": [8, 16]}
CASES = {
    "no encoder": {"encoder": "none"},
    "cnn, add": {},
    "cnn, film": {"injection": "film"},
    "profile": {"encoder": "profile", "injection": "profile"},
    "sequence tokens (cross-attention)": {"encoder": SEQUENCE},
    "ncsnpp_48k layout": {"encoder": "none", "backbone": {"name": "tiny", **NCSNPP_48K_OPTIONS}},
}


@pytest.mark.parametrize("case", CASES)
def test_channels_last_gives_the_same_outputs(case):
    model = randomize_(tiny_model(**CASES[case]))  # no zero-initialised layer may hide a difference
    fast = copy.deepcopy(model).channels_last()
    conv = fast.backbone.conv_in.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    gen = torch.Generator().manual_seed(1)
    x, y = (torch.randn(2, 1, model.cfg.stft.freq_bins, 48, dtype=torch.complex64, generator=gen) for _ in range(2))
    t = torch.tensor([0.9, 0.2])
    ref = 0.1 * torch.randn(2, 4000, generator=gen)
    with torch.no_grad():
        cond = model.encode(ref) if model.conditional else None
        expected, got = model(x, t, y, cond), fast(x, t, y, cond)
    assert expected.abs().mean() > 1e-3
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())


def test_models_loaded_for_enhancement_are_channels_last(model_dir):
    enhancer = Enhancer.load(model_dir, EnhanceSettings(device="cpu"))
    convs = [m.weight for m in enhancer.model.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
