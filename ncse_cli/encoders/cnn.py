"""The plan's global-pool CNN noise encoder (noise_conditioning_plan.md, Sec. 1.1).

Four stride-2 convolution blocks on the reference's compressed complex spectrogram (real and imaginary parts as
two channels), average pooling over the valid time frames, adaptive pooling of the frequency axis to a few bins,
and two linear layers to the condition vector z_r.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ncse_cli.backbones.layers import group_norm
from ncse_cli.conditioning import Condition, ConditionSpec
from ncse_cli.encoders.base import ENCODERS, EncoderContext, NoiseEncoder
from ncse_cli.stft import Spectrogram


def conv_block(cin: int, cout: int) -> nn.Sequential:
    """3x3 convolution with stride 2, GroupNorm, SiLU: halves frequency and time."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), group_norm(cout), nn.SiLU())


class SpectrogramCNN(nn.Module):
    """The convolutional trunk shared by the global-pool and sequence encoders: ``[B, R] -> [B, C, F', T']``."""

    def __init__(self, channels: tuple[int, ...], ctx: EncoderContext) -> None:
        super().__init__()
        self.spectrogram = Spectrogram(ctx.stft)
        self.hop = ctx.stft.hop_length
        ins = (2,) + tuple(channels[:-1])
        self.blocks = nn.Sequential(*(conv_block(cin, cout) for cin, cout in zip(ins, channels)))

    def forward(self, ref: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Feature map of the references; samples past ``lengths`` are zeroed so padding content never matters."""
        if lengths is not None:
            ref = ref * (torch.arange(ref.shape[-1], device=ref.device)[None, :] < lengths.to(ref.device)[:, None])
        spec = self.spectrogram(ref)  # [B, 1, F, T] complex
        return self.blocks(torch.cat([spec.real, spec.imag], dim=1))

    def frame_mask(self, lengths: torch.Tensor | None, batch: int, frames: int, device) -> torch.Tensor:
        """``[B, T']`` true where an output frame sees at least one valid input frame."""
        if lengths is None:
            return torch.ones(batch, frames, dtype=torch.bool, device=device)
        valid = lengths.to(device) // self.hop + 1
        for _ in self.blocks:
            valid = (valid + 1) // 2  # stride 2, padding 1, kernel 3: ceil(n / 2)
        return torch.arange(frames, device=device)[None, :] < valid[:, None]


@ENCODERS.register("cnn")
class CNNEncoder(NoiseEncoder):
    """Global-pool CNN encoder: a reference -> one ``dim``-vector z_r."""

    @dataclass(frozen=True)
    class Config:
        channels: tuple[int, ...] = (64, 128, 256, 512)
        dim: int = 512
        freq_pool: int = 4

    def __init__(self, cfg: Config | None = None, ctx: EncoderContext = EncoderContext()) -> None:
        super().__init__()
        self.cfg = cfg = cfg or self.Config()
        self.trunk = SpectrogramCNN(cfg.channels, ctx)
        self.head = nn.Sequential(nn.Linear(cfg.channels[-1] * cfg.freq_pool, cfg.dim), nn.SiLU(),
                                  nn.Linear(cfg.dim, cfg.dim))
        self.spec = ConditionSpec(vector_dim=cfg.dim)

    def forward(self, ref: torch.Tensor, lengths: torch.Tensor | None = None,
                keys: Sequence[str] | None = None) -> Condition:
        h = self.trunk(ref, lengths)  # [B, C, F', T']
        b, c, f, t = h.shape
        mask = self.trunk.frame_mask(lengths, b, t, h.device).to(h.dtype)
        pooled = (h * mask[:, None, None, :]).sum(-1) / mask.sum(-1).clamp_min(1)[:, None, None]  # [B, C, F']
        pooled = F.adaptive_avg_pool1d(pooled, self.cfg.freq_pool).flatten(1)
        return Condition(vector=self.head(pooled))
