"""ncse's NCSN++ in its SGMSE+ mode equals the reference package's networks (sgmse 0.1.2) number by number."""

import contextlib

import pytest
import torch

from ncse_cli.config import from_dict
from ncse_cli.interop.sgmse import backbone_state, reference_parameters
from ncse_cli.model import ModelConfig, ScoreModel

from tests.dummies import NCSNPP_48K_OPTIONS, SGMSE_BASE_LAYOUT, SGMSE_FULL_BAND, SGMSE_TINY, randomize_

reference = pytest.importorskip("sgmse.backbones", reason="needs the reference package sgmse 0.1.2 (make install)")

LAYOUTS = {"tiny": (SGMSE_TINY, 32), "base-layout": (SGMSE_BASE_LAYOUT, 64)}

#: ncsnpp_48k at a small size on 64 frequency bins: as SGMSE+ builds it (no attention but the middle block's), and
#: with attention at one level, which its constructor accepts too. ``(layout, bins, frames)``.
FULL_BAND_LAYOUTS = {"48k-small": (SGMSE_FULL_BAND, 64, 16),
                     "48k-attention": ({**SGMSE_FULL_BAND, "attn_resolutions": (32,)}, 64, 16)}

def _ours(layout: dict, loss: str, bins: int = 256, **options) -> ScoreModel:
    backbone = {"name": "base", **{k: list(v) if isinstance(v, tuple) else v for k, v in layout.items()},
                "freq_bins": bins, **options}
    cfg = from_dict(ModelConfig, {"backbone": backbone, "encoder": "none", "loss": loss,
                                  "stft": {"n_fft": 2 * (bins - 1), "hop_length": (bins - 1) // 2},
                                  "sde": "ouve" if loss == "score_matching" else "sbve"})
    return ScoreModel(cfg, load_pretrained=False).double().eval()


def _pair(kind: str, layout: dict, loss: str, bins: int = 256, **options):
    """A reference network with random weights and ncse's model holding the same weights, both float64."""
    ref = getattr(reference, kind)(**layout, image_size=bins)
    randomize_(ref, seed=3)
    ref = ref.double().eval()
    ours = _ours(layout, loss, bins, **options)
    ours.backbone.load_state_dict({**ours.backbone.state_dict(), **backbone_state(ref.state_dict(), ours.backbone)})
    return ref, ours


@contextlib.contextmanager
def float64_constants():
    """The reference builds its FIR kernel as a float32 numpy array at every call; its taps (1, 3, 9 over 64) are
    exact in float32, so the same kernel in float64 lets the reference run in float64."""
    from sgmse.backbones.ncsnpp_utils import up_or_down_sampling as fir
    setup = fir._setup_kernel
    fir._setup_kernel = lambda k: setup(k).astype("float64")
    try:
        yield
    finally:
        fir._setup_kernel = setup


def _inputs(frames: int, seed: int = 0, bins: int = 256):
    gen = torch.Generator().manual_seed(seed)
    x, y = (torch.randn(2, 1, bins, frames, dtype=torch.complex128, generator=gen) * 0.4 for _ in range(2))
    return x, y, torch.tensor([0.07, 0.81], dtype=torch.float64)


def _assert_same_parameters(ref, ours: ScoreModel) -> None:
    assert [r for r, _ in reference_parameters(ours.backbone)] == [n for n, _ in ref.named_parameters()]
    fourier = ours.backbone.time_embed[0].W.numel()  # a fixed buffer here, a frozen parameter there
    assert sum(p.numel() for p in ours.parameters()) + fourier == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize("name", LAYOUTS)
def test_parameter_map_follows_the_reference_order(name):
    """The importer pairs torch_ema's shadow list with names by this order: it must be the reference's own."""
    layout, _ = LAYOUTS[name]
    for kind, loss in (("NCSNpp", "score_matching"), ("NCSNpp_v2", "data_prediction")):
        _assert_same_parameters(getattr(reference, kind)(**layout, image_size=256), _ours(layout, loss))


@pytest.mark.parametrize("name", FULL_BAND_LAYOUTS)
def test_parameter_map_follows_the_full_band_reference_order(name):
    """ncsnpp_48k has no input-skip convolutions and one output head after the last up stage."""
    layout, bins, _ = FULL_BAND_LAYOUTS[name]
    ours = _ours(layout, "score_matching", bins, **NCSNPP_48K_OPTIONS)
    _assert_same_parameters(reference.NCSNpp_48k(**layout, image_size=bins), ours)
    names = [n for n, _ in ours.backbone.named_parameters()]
    assert not any(n.startswith(("input_skips.", "output_heads.")) for n in names) and "output_head.2.weight" in names


@torch.no_grad()
@pytest.mark.parametrize("name", LAYOUTS)
def test_score_equals_sgmse_ncsnpp_in_float64(name):
    """SGMSE+'s score is ``-dnn([x, y], t)`` (``ScoreModel.forward``, backbone ncsnpp): log-t embedding,
    output pyramid divided by t, 1x1 output layer."""
    layout, frames = LAYOUTS[name]
    ref, ours = _pair("NCSNpp", layout, "score_matching")
    x, y, t = _inputs(frames)
    with float64_constants():
        expected = -ref(torch.cat([x, y], dim=1), t)
    got = ours.score(x, t, y)
    assert expected.abs().max() > 0.05 and expected.std() > 1e-3  # the output depends on the input
    assert (got - expected).abs().max() <= 1e-10 * expected.abs().max()


@torch.no_grad()
@pytest.mark.parametrize("name", LAYOUTS)
def test_clean_estimate_equals_sgmse_ncsnpp_v2_in_float64(name):
    """With data prediction SGMSE+'s model output is ``dnn(x, y, t)`` of ``ncsnpp_v2`` (no division by t)."""
    layout, frames = LAYOUTS[name]
    ref, ours = _pair("NCSNpp_v2", layout, "data_prediction")
    x, y, t = _inputs(frames, seed=1)
    with float64_constants():
        expected = ref(x, y, t)
    got = ours.clean(x, t, y)
    assert expected.abs().max() > 0.05 and expected.std() > 1e-3
    assert (got - expected).abs().max() <= 1e-10 * expected.abs().max()


@torch.no_grad()
@pytest.mark.parametrize("name", FULL_BAND_LAYOUTS)
def test_score_equals_sgmse_ncsnpp_48k_in_float64(name):
    """SGMSE+'s full-band score is ``-dnn([x, y], t)`` of ``ncsnpp_48k``: no pyramids, one output head, and the 1x1
    output layer before the division by t (so its bias is divided by t too)."""
    layout, bins, frames = FULL_BAND_LAYOUTS[name]
    ref, ours = _pair("NCSNpp_48k", layout, "score_matching", bins, **NCSNPP_48K_OPTIONS)
    x, y, t = _inputs(frames, seed=2, bins=bins)
    with float64_constants():  # the resampling residual blocks keep their FIR kernels
        expected = -ref(torch.cat([x, y], dim=1), t)
    got = ours.score(x, t, y)
    assert expected.abs().max() > 0.05 and expected.std() > 1e-3
    assert (got - expected).abs().max() <= 1e-10 * expected.abs().max()

