"""Cross-attention conditioning: the block's closed form, placement and build-time checks, guidance identities,
keys/values once per utterance, and a tiny sequence-encoder model that trains, enhances and reloads."""

import math
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ncse_cli.backbones import BACKBONES
from ncse_cli.backbones.layers import CrossAttnBlock
from ncse_cli.model_dir import load_model, save_model
from ncse_cli.conditioning import ConditionSpec
from ncse_cli.config import ConfigError, from_dict, load_yaml
from ncse_cli.enhancement import enhance_waveforms
from ncse_cli.model import ModelConfig, ScoreModel, build_model
from ncse_cli.objective import TrainingObjective, drop_condition
from ncse_cli.sampling import Guidance
from ncse_cli.sampling.pc import PCConfig

SEQUENCE = {"name": "sequence", "channels": [8, 16, 16, 32], "dim": 32, "num_tokens": 8}


def sequence_model(seed: int = 0, injection: str = "add", null: str = "zeros", **encoder) -> ScoreModel:
    """A tiny model on a 128-bin STFT with the sequence encoder (cross-attention at levels 3 and 4 and the middle)."""
    torch.manual_seed(seed)
    cfg = from_dict(ModelConfig, {"backbone": {"name": "tiny", "nf": 8, "freq_bins": 128}, "stft": {"n_fft": 254},
                                  "encoder": {**SEQUENCE, **encoder},
                                  "conditioning": {"injection": injection, "null": null}})
    return build_model(cfg).eval()


def randomize_zero_inits(model: torch.nn.Module) -> None:
    """Stand-in for training: zero-initialised layers (output projections, learned nulls) get small values."""
    with torch.no_grad():
        for p in model.parameters():
            if (p == 0).all():
                p.normal_(0, 0.05)


def xattn_blocks(model: torch.nn.Module) -> list[CrossAttnBlock]:
    return [m for m in model.modules() if isinstance(m, CrossAttnBlock)]


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_presets_without_tokens_keep_their_parameter_counts():
    # SGMSE+'s layout (equal to the reference network: tests/backbones/test_sgmse_reference.py); base without a
    # condition is sgmse's ncsnpp, 65,590,822 parameters there, less its 128 Fourier weights, a buffer here.
    expected = {("tiny", None, "add"): 1372686, ("tiny", 512, "film"): 2488974, ("small", 512, "add"): 28808858,
                ("base", None, "add"): 65590694}
    for (name, dim, injection), count in expected.items():
        with torch.device("meta"):  # shapes only: no 66 M initial weights to draw
            net = BACKBONES.get(name)(BACKBONES.get(name).Config(), ConditionSpec(vector_dim=dim), injection)
        assert _count(net) == count, name
        assert not xattn_blocks(net) and net.mid_xattn is None


@pytest.mark.parametrize("name,levels,blocks", [("tiny", {4}, 3), ("small", {3}, 3), ("base", {4, 5, 6}, 10)])
def test_tokens_turn_on_cross_attention_at_the_coarse_levels(name, levels, blocks):
    cls = BACKBONES.get(name)
    with torch.device("meta"):  # the layout only
        net = cls(cls.Config(), ConditionSpec(token_dim=32, num_tokens=4))
        explicit = cls(cls.Config(xattn_resolutions=(cls.Config().freq_bins // 2 ** min(levels),)),
                       ConditionSpec(token_dim=32, num_tokens=4))
    # auto: the self-attention resolution and every coarser level, plus the middle
    assert net.xattn_levels == levels and len(xattn_blocks(net)) == blocks and net.mid_xattn is not None
    assert explicit.xattn_levels == {min(levels)}


def test_encoder_and_backbone_mismatches_fail_at_build_time():
    tiny = BACKBONES.get("tiny")
    tokens = ConditionSpec(token_dim=32, num_tokens=4)
    with pytest.raises(ConfigError, match="xattn_resolutions is empty"):
        tiny(tiny.Config(xattn_resolutions=()), tokens)
    with pytest.raises(ConfigError, match="needs an encoder that produces tokens"):
        tiny(tiny.Config(xattn_resolutions=(16,)), ConditionSpec(vector_dim=8))
    with pytest.raises(ConfigError, match="xattn_heads 3 does not divide the 64 channels"):
        tiny(tiny.Config(xattn_heads=3), tokens)
    with pytest.raises(ConfigError, match=r"xattn_resolutions \[15\] are not levels"):
        from_dict(tiny.Config, {"xattn_resolutions": [15]}, "backbone")
    cfg = from_dict(ModelConfig, {"backbone": {"name": "tiny", "xattn_resolutions": [16]}, "encoder": "cnn"})
    with pytest.raises(ConfigError, match="needs an encoder that produces tokens"):
        build_model(cfg)


def _reference_cross_attention(block, x, tokens, mask):
    """Cross-attention written out: per head softmax(q k^T / sqrt(d)) v over the valid tokens."""
    b, c, f, t = x.shape
    q = F.conv2d(block.norm(x), block.q.weight, block.q.bias).flatten(2).transpose(1, 2)  # [B, FT, C]
    k, v = (tokens @ block.kv.weight.T + block.kv.bias).chunk(2, dim=-1)  # [B, L, C]
    d = c // block.heads
    heads = []
    for h in range(block.heads):
        part = slice(h * d, (h + 1) * d)
        logits = q[..., part] @ k[..., part].transpose(1, 2) / math.sqrt(d)
        heads.append(torch.softmax(logits.masked_fill(~mask[:, None, :], -math.inf), dim=-1) @ v[..., part])
    h = torch.cat(heads, dim=-1).transpose(1, 2).reshape(b, c, f, t)
    out = x + F.conv2d(h, block.out.weight, block.out.bias)
    return out / math.sqrt(2) if block.skip_rescale else out


@pytest.mark.parametrize("skip_rescale", [False, True], ids=["plain-residual", "ncse-0.1-rescaled"])
def test_cross_attention_block_matches_its_closed_form(skip_rescale):
    block = CrossAttnBlock(8, 6, heads=2, skip_rescale=skip_rescale).double()
    identity = (lambda v: v / math.sqrt(2)) if skip_rescale else (lambda v: v)  # noqa: E731
    x, tokens = torch.randn(2, 8, 3, 5, dtype=torch.float64), torch.randn(2, 4, 6, dtype=torch.float64)
    mask = torch.tensor([[True, True, False, True], [True, False, False, False]])
    # Zero-initialised output: a new block is the identity whatever the tokens (ncse 0.1's: the rescaled one).
    torch.testing.assert_close(block(x, block.context(tokens, mask)), identity(x), rtol=0, atol=0)
    randomize_zero_inits(block)
    out = block(x, block.context(tokens, mask))
    torch.testing.assert_close(out, _reference_cross_attention(block, x, tokens, mask), rtol=1e-10, atol=1e-12)
    masked_changed = torch.where(mask[..., None], tokens, torch.randn_like(tokens) * 100)
    torch.testing.assert_close(block(x, block.context(masked_changed, mask)), out, rtol=0, atol=1e-12)
    nothing_valid = block(x, block.context(tokens, torch.zeros(2, 4, dtype=torch.bool)))
    torch.testing.assert_close(nothing_valid, identity(x), rtol=0, atol=0)
    # An all-valid mask is dropped (so SDPA may use its fused kernels) and changes nothing.
    all_valid = block.context(tokens, torch.ones(2, 4, dtype=torch.bool))
    assert all_valid[2:] == (None, None)
    full = torch.ones_like(mask)
    torch.testing.assert_close(block(x, all_valid), _reference_cross_attention(block, x, tokens, full),
                               rtol=1e-10, atol=1e-12)


def _references(second_half_differs: bool, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    first, second, other = (torch.randn(1, 16000, generator=gen) * 0.1 for _ in range(3))
    return torch.cat([first, other if second_half_differs else second], dim=1)


def _state(model, frames=20, dtype=torch.complex64, seed=1):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 1, 256, frames, dtype=dtype, generator=gen) * 0.3
    y = torch.randn(2, 1, 256, frames, dtype=dtype, generator=gen) * 0.3
    return x, torch.tensor([0.3, 0.8]), y


@torch.no_grad()
def test_the_score_sees_the_reference_only_through_cross_attention():
    model = sequence_model()
    randomize_zero_inits(model)
    x, t, y = _state(model)
    refs = torch.cat([_references(False), _references(True)])  # the second halves differ
    cond = model.encode(refs)
    a, b = model.score(x, t, y, cond.map(lambda v: v[:1].expand(2, *v.shape[1:]))), model.score(
        x, t, y, cond.map(lambda v: v[1:].expand(2, *v.shape[1:])))
    assert (a - b).abs().max() > 1e-3 * a.abs().max()
    for block in xattn_blocks(model):  # disable cross-attention; no global injection is configured
        torch.nn.init.zeros_(block.out.weight), torch.nn.init.zeros_(block.out.bias)
    cond = model.encode(refs)
    a, b = model.score(x, t, y, cond.map(lambda v: v[:1].expand(2, *v.shape[1:]))), model.score(
        x, t, y, cond.map(lambda v: v[1:].expand(2, *v.shape[1:])))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


CASES = [("add", "zeros", False), ("film", "learned", True)]


@torch.no_grad()
@pytest.mark.parametrize("injection,null,vector", CASES, ids=["xattn-zeros", "xattn+film-learned"])
def test_guidance_identities_hold_with_tokens(injection, null, vector):
    # float64, so that batching [cond; null] cannot move the result by float32 rounding
    model = sequence_model(injection=injection, null=null, vector=vector).double()
    randomize_zero_inits(model)
    x, t, y = _state(model, dtype=torch.complex128)
    cond = model.encode(torch.randn(2, 8000, dtype=torch.float64) * 0.1, torch.tensor([8000, 6000]))
    null_cond = model.null_condition(cond)
    expected_null = torch.zeros(8, 32) if null == "zeros" else model.null.tokens
    torch.testing.assert_close(null_cond.tokens, expected_null.double().expand(2, 8, 32), rtol=0, atol=0)
    assert null_cond.mask.all()
    s_cond, s_uncond = model.score(x, t, y, cond), model.score(x, t, y, null_cond)
    assert (s_cond - s_uncond).abs().max() > 1e-2  # the tokens matter, so the identities are not vacuous
    torch.testing.assert_close(Guidance(model, cond, 1.0)(x, t, y), s_cond, rtol=0, atol=0)
    torch.testing.assert_close(Guidance(model, cond, 0.0)(x, t, y), s_uncond, rtol=0, atol=0)
    for w in (0.5, 3.0):
        guided = Guidance(model, cond, w)
        assert guided.branches == 2
        assert (guided(x, t, y) - (s_uncond + w * (s_cond - s_uncond))).abs().max() <= 1e-6


def test_dropped_conditions_are_null_token_sequences():
    model = sequence_model(null="learned")
    randomize_zero_inits(model)
    cond = model.encode(torch.randn(3, 8000) * 0.1)
    dropped = drop_condition(cond, model.null, 1.0, torch.Generator().manual_seed(0))
    torch.testing.assert_close(dropped.tokens, model.null.tokens.expand(3, 8, 32), rtol=0, atol=0)
    assert dropped.mask.all()


@pytest.mark.parametrize("steps", [2, 5])
@pytest.mark.parametrize("w", [1.0, 3.0])
def test_keys_and_values_are_projected_once_per_utterance(steps, w):
    model = sequence_model()
    blocks = xattn_blocks(model)
    kv_calls, q_calls = [], []
    for block in blocks:
        block.kv.register_forward_hook(lambda *_: kv_calls.append(1))
        block.q.register_forward_hook(lambda *_: q_calls.append(1))
    noisy, ref = torch.randn(4000) * 0.1, torch.randn(8000) * 0.1
    out = enhance_waveforms(model, noisy, ref, w=w, sampler=PCConfig(steps=steps),
                  generator=torch.Generator().manual_seed(0))
    assert len(kv_calls) == len(blocks) == 5  # levels 3 and 4 (down and up) and the middle
    assert len(q_calls) == len(blocks) * out.nfe  # queries change every step; conditional and null batched
    assert out.network_evaluations == out.nfe * (2 if w != 1 else 1)


def test_a_tiny_sequence_model_trains_enhances_and_reloads(tmp_path):
    model = sequence_model(vector=True).train()
    gen = torch.Generator().manual_seed(0)
    clean = 0.3 * torch.sin(torch.arange(4000) * 0.05).expand(2, -1)
    noisy, ref = clean + 0.1 * torch.randn(2, 4000, generator=gen), 0.1 * torch.randn(2, 8000, generator=gen)
    objective = TrainingObjective(model, p_uncond=0.2)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
    losses, encoder_grads = [], []
    for _ in range(4):  # the same noise and times every step: a fixed objective that descent must lower
        optimizer.zero_grad()
        loss = objective(clean, noisy, ref, torch.tensor([8000, 6000]), generator=torch.Generator().manual_seed(1))
        loss.backward()
        encoder_grads.append(sum(p.grad.abs().sum().item() for p in model.encoder.parameters()))
        losses.append(loss.item())
        optimizer.step()
    assert all(math.isfinite(v) for v in losses) and all(b < a for a, b in zip(losses, losses[1:]))
    # every path from the encoder ends in a zero-initialised layer, and so does every output head (NCSN++'s
    # init_scale 0): the heads move first, then the conditioning layers, and the encoder learns from step 3 on
    assert encoder_grads[0] == encoder_grads[1] == 0 and all(g > 0 for g in encoder_grads[2:])
    model.eval()
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    runs = [enhance_waveforms(m, noisy[0], ref[0], w=2.0, sampler=PCConfig(steps=2),
                    generator=torch.Generator().manual_seed(2)) for m in (model, loaded)]
    assert runs[0].waveform.shape == (4000,) and torch.isfinite(runs[0].waveform).all()
    assert runs[0].guidance == "guided"
    torch.testing.assert_close(runs[0].waveform, runs[1].waveform, rtol=0, atol=0)


def test_xattn_recipes_build_the_plans_model():
    recipes = Path(__file__).resolve().parents[2] / "recipes"
    sections = {name: load_yaml(recipes / name) for name in ("xattn_01.yaml", "xattn_cfg.yaml")}
    assert sections["xattn_01.yaml"]["train"]["p_uncond"] == 0.0  # XAttn-01: no CFG dropout
    assert sections["xattn_cfg.yaml"]["train"]["p_uncond"] == 0.2  # XAttn-CFG: the plan's best dropout
    assert sections["xattn_01.yaml"]["model"] == sections["xattn_cfg.yaml"]["model"]
    model = build_model(from_dict(ModelConfig, sections["xattn_01.yaml"]["model"], "model"))
    assert model.encoder.spec.num_tokens == 16 and model.encoder.spec.vector_dim is None
    assert model.backbone.xattn_levels == {4, 5, 6} and len(xattn_blocks(model)) == 10


def test_readme_cross_attention_example_runs(capsys):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Cross-attention on noise tokens", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.strip() == "(2, 16, 128) (2, 128) [4]"
