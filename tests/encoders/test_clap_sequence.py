"""The clap-sequence encoder: HTS-AT's frame-level features pooled over the reference's first copy as tokens,
with a randomly initialised tower saved in the official checkpoint layout (``clap_ckpt``)."""

import pytest
import torch
import torch.nn.functional as F

from ncse_cli.config import from_dict
from ncse_cli.encoders import ENCODERS
from ncse_cli.encoders.pretrained import PretrainedEncoder
from ncse_cli.encoders.sequence import CLAPSequenceEncoder, pool_valid_frames
from ncse_cli.enhancement import enhance_waveforms
from ncse_cli.model import ModelConfig, build_model
from ncse_cli.objective import TrainingObjective
from ncse_cli.sampling.pc import PCConfig


@pytest.mark.parametrize("frames,tokens", [(32, 8), (37, 8), (5, 8), (1, 4), (205, 16)])
def test_pooling_all_frames_is_adaptive_average_pooling(frames, tokens):
    h = torch.randn(2, frames, 3, dtype=torch.float64)
    pooled = pool_valid_frames(h, torch.tensor([frames, frames]), tokens)
    torch.testing.assert_close(pooled, F.adaptive_avg_pool1d(h.transpose(1, 2), tokens).transpose(1, 2))


def test_pooling_ignores_the_frames_past_each_rows_length():
    h = torch.randn(3, 12, 2, dtype=torch.float64)
    pooled = pool_valid_frames(h, torch.tensor([12, 3, 7]), 4)
    for row, n in enumerate((12, 3, 7)):
        expected = F.adaptive_avg_pool1d(h[row, :n].T[None], 4)[0].T
        torch.testing.assert_close(pooled[row], expected)


@pytest.fixture(scope="module")
def encoder(clap_ckpt):
    torch.manual_seed(0)
    cfg = from_dict(CLAPSequenceEncoder.Config, {"ckpt": str(clap_ckpt[0]), "dim": 16, "cache_size": 8})
    return ENCODERS.get("clap-sequence")(cfg).eval()


def test_tokens_pool_the_towers_frames_over_the_first_copy_only(encoder):
    gen = torch.Generator().manual_seed(0)
    ref = torch.randn(2, 32000, generator=gen) * 0.1
    lengths = torch.tensor([32000, 12000])
    with torch.no_grad():
        cond = encoder(ref, lengths)
        frames = PretrainedEncoder.run_tower(encoder, ref, lengths)  # [2, 1024, 768] over the 10 s window
        tower_tokens = encoder.run_tower(ref, lengths)
    assert cond.tokens.shape == (2, 8, 16) and cond.mask.all() and cond.vector is None
    assert encoder.spec.token_dim == 16 and encoder.spec.num_tokens == 8 and encoder.spec.vector_dim is None
    # 2 s and 0.75 s of a 10 s window: the first ceil(1024 n / 480000) frames at 48 kHz
    for row, valid in enumerate((205, 77)):
        expected = F.adaptive_avg_pool1d(frames[row, :valid].T[None], 8)[0].T
        torch.testing.assert_close(tower_tokens[row], expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(tower_tokens[0], F.adaptive_avg_pool1d(frames[0].T[None], 8)[0].T, atol=1e-3)


def test_frozen_tokens_are_cached_per_reference(encoder):
    ref = torch.randn(2, 16000, generator=torch.Generator().manual_seed(1)) * 0.1
    rows = []
    hook = encoder.tower.register_forward_hook(lambda module, args, out: rows.append(args[0].shape[0]))
    try:
        with torch.no_grad():
            first = encoder(ref, None, ["a.wav:0", "b.wav:0"]).tokens
            again = encoder(ref.flip(0), None, ["b.wav:0", "a.wav:0"]).tokens
    finally:
        hook.remove()
    assert rows == [2]
    torch.testing.assert_close(again, first.flip(0), rtol=0, atol=0)


def test_a_tiny_model_trains_and_enhances_with_clap_tokens(clap_ckpt):
    torch.manual_seed(0)
    cfg = from_dict(ModelConfig, {"backbone": {"name": "tiny", "nf": 8}, "encoder": {
        "name": "clap-sequence", "ckpt": str(clap_ckpt[0]), "dim": 16, "num_tokens": 4, "vector": True}})
    model = build_model(cfg).train()
    assert model.backbone.xattn_levels == {4}  # tokens switch cross-attention on
    gen = torch.Generator().manual_seed(0)
    clean = 0.3 * torch.sin(torch.arange(4000) * 0.05).expand(2, -1)
    noisy, ref = clean + 0.1 * torch.randn(2, 4000, generator=gen), 0.1 * torch.randn(2, 8000, generator=gen)
    TrainingObjective(model, p_uncond=0.5)(clean, noisy, ref, None, ["r0", "r1"],
                                                generator=torch.Generator().manual_seed(0)).backward()
    assert all(p.grad is None for p in model.encoder.tower.parameters())  # frozen
    assert all(p.grad is not None for p in model.encoder.projection.parameters())
    assert [tuple(e[1].shape) for e in model.encoder.cache._entries.values()] == [(4, 768)] * 2
    result = enhance_waveforms(model.eval(), noisy[0], ref[0], w=3.0, sampler=PCConfig(steps=1),
                     generator=torch.Generator().manual_seed(1))
    assert result.guidance == "guided" and torch.isfinite(result.waveform).all()
