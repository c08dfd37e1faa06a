"""Building blocks of the NCSN++ U-Net.

Song, Sohl-Dickstein, Kingma, Kumar, Ermon, Poole, "Score-Based Generative Modeling through Stochastic
Differential Equations", ICLR 2021, Appendix H (NCSN++): Gaussian Fourier time features, BigGAN residual blocks
with FIR resampling (Brock et al. 2019; Karras et al. 2020), 1/sqrt(2) skip rescaling and self-attention.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with NCSN++'s group count ``min(channels // 4, 32)``."""
    return nn.GroupNorm(num_groups=min(channels // 4, 32), num_channels=channels, eps=1e-6)


def zero_init(module: nn.Module) -> nn.Module:
    """Start a residual branch's last layer at zero, so each block begins as the identity (NCSN++'s
    ``init_scale=0``, which SGMSE+ uses as 1e-10)."""
    for param in module.parameters():
        nn.init.zeros_(param)
    return module


def aside():
    """Build conditioning layers with the random stream set aside (restored afterwards), so that the rest of a
    network initialises alike with or without them: conditioned and unconditioned models of one seed start from
    the same weights and differ only in their conditioning."""
    return torch.random.fork_rng(devices=[])


def ddpm_uniform_(weight: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """NCSN++'s ``default_init`` (from DDPM, Ho et al. 2020) in place: uniform with variance ``scale / fan_avg``,
    where ``fan_avg`` is the mean of fan-in and fan-out, each counting the kernel's taps."""
    taps = weight[0][0].numel() if weight.dim() > 2 else 1
    bound = math.sqrt(3 * scale / ((weight.shape[0] + weight.shape[1]) * taps / 2))
    with torch.no_grad():
        return weight.uniform_(-bound, bound)


def ddpm_init(module: nn.Module, scale: float = 1.0) -> nn.Module:
    """A convolution or linear layer with NCSN++'s initialisation: :func:`ddpm_uniform_` weights, zero bias."""
    ddpm_uniform_(module.weight, scale)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


class GaussianFourierProjection(nn.Module):
    """Random Fourier features of the diffusion time (Tancik et al. 2020), fixed after initialisation."""

    def __init__(self, embedding_size: int, scale: float = 16.0) -> None:
        super().__init__()
        self.register_buffer("W", torch.randn(embedding_size) * scale)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        proj = t[:, None] * self.W[None, :] * 2 * math.pi
        return torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)


class FIRResample(nn.Module):
    """Down- or upsampling by 2 with the separable FIR kernel [1, 3, 3, 1] (upfirdn2d in NCSN++)."""

    def __init__(self, channels: int, up: bool) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
        kernel = torch.outer(taps, taps)
        kernel = kernel / kernel.sum() * (4 if up else 1)  # upsampling keeps the signal's mean level
        self.register_buffer("kernel", kernel.expand(channels, 1, 4, 4).contiguous())
        self.up = up
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = self.kernel.to(x.dtype)
        if self.up:
            return F.conv_transpose2d(x, kernel, stride=2, padding=1, groups=self.channels)
        return F.conv2d(x, kernel, stride=2, padding=1, groups=self.channels)


class ResnetBlockBigGAN(nn.Module):
    """BigGAN-style residual block with time embedding and optional FiLM conditioning.

    ``h = conv(act(norm(x)))``, resampled when ``up``/``down``; the time embedding is added per channel; after
    the second normalisation a FiLM ``(1 + scale) * h + shift`` (Perez et al. 2018) injects the noise condition
    when enabled; the skip path is rescaled by ``1/sqrt(2)``.
    """

    def __init__(self, in_ch: int, out_ch: int, temb_dim: int, film_dim: int | None = None,
                 up: bool = False, down: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm0 = group_norm(in_ch)
        self.conv0 = ddpm_init(nn.Conv2d(in_ch, out_ch, 3, padding=1))
        self.temb = ddpm_init(nn.Linear(temb_dim, out_ch))
        self.norm1 = group_norm(out_ch)
        with aside():
            self.film = zero_init(nn.Linear(film_dim, 2 * out_ch)) if film_dim else None
        self.dropout = nn.Dropout(dropout)
        self.conv1 = zero_init(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.resample = FIRResample(in_ch, up=up) if (up or down) else None
        self.skip = ddpm_init(nn.Conv2d(in_ch, out_ch, 1)) if (in_ch != out_ch or up or down) else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor, film: torch.Tensor | None = None) -> torch.Tensor:
        """``film [B, 2 * out_ch]`` holds FiLM scale and shift (from :meth:`film_params`), or ``None``."""
        h = F.silu(self.norm0(x))
        if self.resample is not None:
            h, x = self.resample(h), self.resample(x)
        h = self.conv0(h) + self.temb(F.silu(temb))[:, :, None, None]
        h = self.norm1(h)
        if film is not None:
            scale, shift = film[:, :, None, None].chunk(2, dim=1)
            h = h * (1 + scale) + shift
        h = self.conv1(self.dropout(F.silu(h)))
        if self.skip is not None:
            x = self.skip(x)
        return (x + h) / math.sqrt(2.0)

    def film_params(self, vector: torch.Tensor) -> torch.Tensor:
        """FiLM scale and shift for a condition vector ``[B, film_dim]`` -> ``[B, 2 * out_ch]``."""
        return self.film(vector)


class AttnBlock(nn.Module):
    """Single-head self-attention over all time-frequency positions, residual with 1/sqrt(2) rescaling.

    NCSN++'s ``AttnBlockpp`` with its three 1x1 projections (``NIN_0..2``, initialised at scale 0.1) fused into
    one convolution ``qkv`` whose output channels are ``[q; k; v]``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        for part in self.qkv.weight.data.chunk(3):
            ddpm_uniform_(part, scale=0.1)
        nn.init.zeros_(self.qkv.bias)
        self.out = zero_init(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, f, t = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, f * t).transpose(-1, -2).unbind(1)
        h = F.scaled_dot_product_attention(q, k, v)  # [B, FT, C]
        h = self.out(h.transpose(-1, -2).reshape(b, c, f, t))
        return (x + h) / math.sqrt(2.0)


class CrossAttnBlock(nn.Module):
    """Residual multi-head cross-attention from the feature map to condition tokens (plan Sec. 2.3).

    The latent-diffusion recipe (Rombach et al., "High-Resolution Image Synthesis with Latent Diffusion Models",
    CVPR 2022, Sec. 3.3) on NCSN++ terms: queries are a 1x1 projection of the GroupNorm-ed feature map (one per
    time-frequency position), keys and values a linear projection of the tokens ``[B, L, context_dim]`` to the
    block's channels, ``heads`` heads of scaled dot-product attention (Vaswani et al. 2017) restricted to the
    valid tokens and a zero-initialised output projection added to the input (the latent-diffusion residual), so a
    new block starts as the identity and a network gains cross-attention without changing its function (warm
    starts). ``skip_rescale`` divides the sum by sqrt(2) like NCSN++'s own blocks (ncse 0.1 models).

    :meth:`context` depends on the tokens only, so a caller computes it once per condition (``Condition.cached``)
    and reuses it at every sampler step.
    """

    def __init__(self, channels: int, context_dim: int, heads: int, skip_rescale: bool = False) -> None:
        super().__init__()
        if channels % heads:
            raise ValueError(f"cross-attention: {channels} channels do not split into {heads} heads")
        self.heads = heads
        self.skip_rescale = skip_rescale
        self.norm = group_norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.kv = nn.Linear(context_dim, 2 * channels)
        self.out = zero_init(nn.Conv2d(channels, channels, 1))

    def context(self, tokens: torch.Tensor, mask: torch.Tensor | None = None):
        """Keys, values ``[B, heads, L, C / heads]``, the attention mask ``[B, 1, 1, L]`` and a per-example flag
        ``[B, 1, 1, 1]`` that is zero where no token is valid (those examples get no cross-attention update); both
        are ``None`` when every token is valid."""
        b, length, _ = tokens.shape
        k, v = self.kv(tokens).reshape(b, length, 2, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        if mask is None or bool(mask.all()):  # no mask at all lets SDPA pick its fused (flash) kernels
            return k, v, None, None
        mask = mask.to(torch.bool)
        any_valid = mask.any(dim=-1)
        attend = mask | ~any_valid[:, None]  # an all-masked row would give NaN; its output is zeroed below
        return k, v, attend[:, None, None, :], any_valid.to(k.dtype)[:, None, None, None]

    def forward(self, x: torch.Tensor, context) -> torch.Tensor:
        """``x [B, C, F, T]`` attends to the tokens behind ``context`` (from :meth:`context`)."""
        k, v, attend, any_valid = context
        b, c, f, t = x.shape
        q = self.q(self.norm(x)).reshape(b, self.heads, c // self.heads, f * t).transpose(-1, -2)
        h = F.scaled_dot_product_attention(q, k.to(q.dtype), v.to(q.dtype), attn_mask=attend)  # [B, H, FT, C/H]
        h = self.out(h.transpose(-1, -2).reshape(b, c, f, t))
        if any_valid is not None:
            h = h * any_valid
        return (x + h) / math.sqrt(2.0) if self.skip_rescale else x + h
