"""The noise-encoder contract and registry: a reference waveform in, a :class:`Condition` out."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ncse_cli.conditioning import Condition, ConditionSpec
from ncse_cli.registry import Registry
from ncse_cli.stft import STFTConfig

ENCODERS: Registry[type] = Registry("noise encoder")


@dataclass(frozen=True)
class EncoderContext:
    """What an encoder may need to know about the model it serves."""

    sample_rate: int = 16000
    stft: STFTConfig = STFTConfig()


class NoiseEncoder(nn.Module):
    """Base class of registered noise encoders.

    ``forward(ref [B, R], lengths [B] | None) -> Condition``: ``ref`` is the noise-only reference at the model's
    sample rate, already scaled by the mixture's peak-normalisation factor; ``lengths`` counts the valid samples
    of each row (the rest is zero padding). Subclasses set :attr:`spec` to the shapes they produce.
    """

    spec: ConditionSpec = ConditionSpec()

    def forward(self, ref: torch.Tensor, lengths: torch.Tensor | None = None) -> Condition:
        raise NotImplementedError
