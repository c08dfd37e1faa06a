"""The sequence noise encoder: token shapes, pooling over valid frames only, temporal locality of tokens."""

import pytest
import torch
import torch.nn.functional as F

from ncse_cli.config import ConfigError, from_dict
from ncse_cli.encoders import ENCODERS
from ncse_cli.encoders.sequence import SequenceEncoder

SMALL = dict(channels=(8, 16, 16, 32), dim=32, num_tokens=8)


def _encoder(**kw) -> SequenceEncoder:
    torch.manual_seed(0)
    return SequenceEncoder(SequenceEncoder.Config(**{**SMALL, **kw})).eval()


def test_registered_with_its_config():
    assert ENCODERS.get("sequence") is SequenceEncoder
    cfg = from_dict(SequenceEncoder.Config, {"num_tokens": 4, "vector": True})
    assert cfg.num_tokens == 4 and cfg.vector
    with pytest.raises(ConfigError, match="num_tokens"):
        from_dict(SequenceEncoder.Config, {"num_tokens": 0})


@pytest.mark.parametrize("vector", [False, True])
def test_tokens_mask_vector_and_spec(vector):
    enc = _encoder(vector=vector)
    ref = torch.randn(3, 8000) * 0.1
    with torch.no_grad():
        cond = enc(ref, torch.tensor([8000, 5000, 300]))
    assert cond.tokens.shape == (3, 8, 32) and cond.tokens.dtype == torch.float32
    assert cond.mask.shape == (3, 8) and cond.mask.dtype == torch.bool and cond.mask.all()
    assert (enc.spec.token_dim, enc.spec.num_tokens) == (32, 8)
    if vector:
        assert enc.spec.vector_dim == 32
        torch.testing.assert_close(cond.vector, cond.tokens.mean(1))
    else:
        assert enc.spec.vector_dim is None and cond.vector is None


def test_each_reference_is_encoded_as_if_it_were_alone():
    """Padding (its amount and content) never reaches the tokens, so they do not depend on the batch."""
    enc = _encoder(level_bands=0)  # the plan's recipe exactly; levels per token are tested below
    gen = torch.Generator().manual_seed(0)
    refs = [torch.randn(n, generator=gen) * 0.1 for n in (12000, 5000, 12000, 700)]
    batch = torch.randn(4, 16000, generator=gen)  # garbage past each length
    for row, ref in enumerate(refs):
        batch[row, :len(ref)] = ref
    with torch.no_grad():
        together = enc(batch, torch.tensor([len(r) for r in refs])).tokens
        alone = torch.cat([enc(ref[None]).tokens for ref in refs])
        # The plan's recipe on the reference alone: trunk, AdaptiveAvgPool2d((4, L)), the head per token.
        plan = enc.head(F.adaptive_avg_pool2d(enc.trunk(refs[1][None]), (4, 8)).permute(0, 3, 1, 2).flatten(2))
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-5)
    torch.testing.assert_close(together[1:2], plan, rtol=0, atol=1e-5)


def test_a_short_reference_repeats_tokens_and_says_so(caplog):
    enc = _encoder(num_tokens=16, level_bands=0)  # band levels come from the STFT frames, which do not repeat
    with torch.no_grad(), caplog.at_level("WARNING", logger="ncse"):
        tokens = enc(torch.randn(1, 4000) * 0.1).tokens[0]  # 0.25 s: 32 STFT frames, 2 trunk frames
        enc(torch.randn(1, 4000) * 0.1)
    assert len(torch.unique(tokens, dim=0)) == 2
    assert sum("neighbouring tokens repeat" in r.message for r in caplog.records) == 1  # once, not per batch


def test_tokens_follow_the_reference_in_time():
    """A reference whose second half differs changes the late tokens far more than the early ones."""
    enc = _encoder(num_tokens=16)
    gen = torch.Generator().manual_seed(0)
    first, second, other = (torch.randn(1, 32000, generator=gen) * 0.1 for _ in range(3))
    with torch.no_grad():
        a = enc(torch.cat([first, second], dim=1)).tokens[0]
        b = enc(torch.cat([first, other], dim=1)).tokens[0]
    change = (a - b).abs().amax(-1)  # per token
    # 501 STFT frames -> 32 trunk frames, 2 per token; the trunk's receptive field is 31 STFT frames, so tokens
    # 0..6 see only the first half. They still move a little: the trunk's GroupNorm normalises over the whole
    # reference. A global-pool encoder would move every token alike.
    assert change[:7].max() < 0.25 * change[9:].min()


def test_a_silent_stand_in_reference_does_not_warn(caplog):
    with torch.no_grad(), caplog.at_level("WARNING", logger="ncse"):
        _encoder(num_tokens=16)(torch.zeros(2, 510))  # what unconditional enhancement passes for shape only
    assert not caplog.records


def test_each_token_carries_the_band_levels_of_its_own_stretch():
    """A reference silent in its first half and loud in its second: the level part of the first tokens is the
    floor, of the last ones far above it, while a constant reference gives every token the same levels."""
    enc = _encoder(num_tokens=4)
    gen = torch.Generator().manual_seed(0)
    half = torch.cat([torch.zeros(8000), torch.randn(8000, generator=gen) * 0.3])[None]
    with torch.no_grad():
        grid = enc._grid(half)[0, :, -enc.cfg.level_bands:]
        flat = enc._grid(torch.randn(1, 16000, generator=gen) * 0.3)[0, :, -enc.cfg.level_bands:]
    assert (grid[-1] - grid[0]).min() > 5  # log power: a factor e^5 and more in every band
    assert (flat - flat.mean(0)).abs().max() < 1.0
