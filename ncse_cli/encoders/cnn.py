"""The plan's global-pool CNN noise encoder (noise_conditioning_plan.md, Sec. 1.1).

Four stride-2 convolution blocks on the reference's compressed complex spectrogram (real and imaginary parts as
two channels), average pooling over the valid time frames, adaptive pooling of the frequency axis to a few bins,
and two linear layers to the condition vector z_r.

The GroupNorm of every block divides out the reference's level, yet the level is what tells the network how
strong the noise is: the reference is divided by the mixture's peak like the mixture itself, so its power relative
to the mixture is the SNR. ``level_bands`` (8) band powers of the reference, ``log`` of the mean power of
``|Z|^2`` in equal frequency bands, join the pooled features before the head (0: ncse 0.1's encoder without them).

Each reference is encoded at its own valid length: the batch is grouped by length and each group runs through the
trunk cropped to it (one call when all references are equally long). Zero padding would otherwise enter the
GroupNorm statistics and the convolutions, and a reference's vector would depend on how much padding its batch
needed (padded in training, unpadded in evaluation).
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
        ins = (2,) + tuple(channels[:-1])
        self.blocks = nn.Sequential(*(conv_block(cin, cout) for cin, cout in zip(ins, channels)))

    def forward(self, ref: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Feature map of the references; samples past ``lengths`` are zeroed so padding content never matters."""
        return self.features(self.spectrum(ref, lengths))

    def spectrum(self, ref: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The compressed spectrogram ``[B, 1, F, T]`` of the references, samples past ``lengths`` zeroed."""
        if lengths is not None:
            ref = ref * (torch.arange(ref.shape[-1], device=ref.device)[None, :] < lengths.to(ref.device)[:, None])
        return self.spectrogram(ref)

    def features(self, spec: torch.Tensor) -> torch.Tensor:
        """The convolutional features ``[B, C, F', T']`` of a compressed spectrogram."""
        return self.blocks(torch.cat([spec.real, spec.imag], dim=1))

    @property
    def min_samples(self) -> int:
        """The shortest input the centred (reflect-padded) STFT takes."""
        return self.spectrogram.cfg.n_fft // 2 + 1


def band_levels(spec: torch.Tensor, bands: int, frames: int | None = None) -> torch.Tensor:
    """Log mean power of ``spec [B, 1, F, T]`` in ``bands`` equal frequency bands: ``[B, bands]``, or with
    ``frames`` pooled to that many time steps as well: ``[B, frames, bands]``."""
    power = spec.abs().square()[:, 0]  # [B, F, T]
    if frames is None:
        return torch.log(F.adaptive_avg_pool1d(power.mean(-1)[:, None], bands)[:, 0] + 1e-8)
    return torch.log(F.adaptive_avg_pool2d(power[:, None], (bands, frames))[:, 0].transpose(1, 2) + 1e-8)


def length_groups(ref: torch.Tensor, lengths: torch.Tensor | None,
                  min_length: int = 1) -> list[tuple[torch.Tensor, int]]:
    """Rows of the batch grouped by valid length (at least ``min_length``): ``[(row indices, length), ...]``."""
    rows = torch.arange(ref.shape[0], device=ref.device)
    if lengths is None:
        return [(rows, ref.shape[-1])]
    lengths = lengths.to(ref.device).clamp(min(min_length, ref.shape[-1]), ref.shape[-1])
    return [(rows[lengths == n], int(n)) for n in torch.unique(lengths)]


@ENCODERS.register("cnn")
class CNNEncoder(NoiseEncoder):
    """Global-pool CNN encoder: a reference -> one ``dim``-vector z_r."""

    @dataclass(frozen=True)
    class Config:
        channels: tuple[int, ...] = (64, 128, 256, 512)
        dim: int = 512
        freq_pool: int = 4
        level_bands: int = 8  #: band powers of the reference beside the pooled features (0: none, ncse 0.1)

    def __init__(self, cfg: Config | None = None, ctx: EncoderContext = EncoderContext()) -> None:
        super().__init__()
        self.cfg = cfg = cfg or self.Config()
        self.trunk = SpectrogramCNN(cfg.channels, ctx)
        features = cfg.channels[-1] * cfg.freq_pool + cfg.level_bands
        self.head = nn.Sequential(nn.Linear(features, cfg.dim), nn.SiLU(), nn.Linear(cfg.dim, cfg.dim))
        self.spec = ConditionSpec(vector_dim=cfg.dim)

    def forward(self, ref: torch.Tensor, lengths: torch.Tensor | None = None,
                keys: Sequence[str] | None = None) -> Condition:
        lengths = None if lengths is None else lengths.to(ref.device)
        groups = length_groups(ref, lengths, self.trunk.min_samples)
        # a reference shorter than the STFT's minimum is cropped to it; the trunk zeroes what lies past its length
        pooled = torch.cat([self._summary(self.trunk.spectrum(ref[rows, :n], None if lengths is None
                                                              else lengths[rows])) for rows, n in groups])
        pooled = pooled[torch.argsort(torch.cat([rows for rows, _ in groups]))]  # back to batch order
        return Condition(vector=self.head(pooled))

    def _summary(self, spec: torch.Tensor) -> torch.Tensor:
        """A spectrogram ``[b, 1, F, T]`` -> trunk features averaged over time, frequency pooled to ``freq_pool``,
        and the band levels: ``[b, C * freq_pool + level_bands]``."""
        pooled = F.adaptive_avg_pool1d(self.trunk.features(spec).mean(-1), self.cfg.freq_pool).flatten(1)
        if not self.cfg.level_bands:
            return pooled
        return torch.cat([pooled, band_levels(spec, self.cfg.level_bands)], dim=1)
