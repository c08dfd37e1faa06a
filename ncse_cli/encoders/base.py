"""The noise-encoder contract and registry: a reference waveform in, a :class:`Condition` out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

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
    #: Whether a pre-trained tower should look for its official weights now. ``load_model`` turns it off:
    #: every weight comes from the model directory right after, so reading the official file would be wasted,
    #: and so would drawing the tower's random initialisation (it is built zero-filled instead).
    load_pretrained: bool = True
    #: Whether a pre-trained tower may download its official weights when they are not at hand
    #: (``ncse train --download-weights``; ``NCSE_ALLOW_DOWNLOAD=1`` allows it too).
    download: bool = False


class NoiseEncoder(nn.Module):
    """Base class of registered noise encoders.

    ``forward(ref [B, R], lengths [B] | None, keys) -> Condition``: ``ref`` is the noise-only reference at the
    model's sample rate, already scaled by the mixture's peak-normalisation factor; ``lengths`` counts the valid
    samples of each row (the rest is zero padding); ``keys`` optionally names each exact reference (file and
    segment) so that an encoder with a frozen tower may cache embeddings (an empty key never caches).
    Subclasses set :attr:`spec` to the shapes they produce.
    """

    spec: ConditionSpec = ConditionSpec()

    def forward(self, ref: torch.Tensor, lengths: torch.Tensor | None = None,
                keys: Sequence[str] | None = None) -> Condition:
        raise NotImplementedError

    def check_trainable(self) -> None:
        """Raise an :class:`~ncse_cli.errors.NcseError` naming what is missing when the encoder cannot be trained
        as it stands (a pre-trained tower without its weights); the default can always be trained."""

    def parameter_groups(self, lr: float) -> list[dict]:
        """Optimizer groups for the encoder's trainable parameters (override for a tower with its own rate)."""
        params = [p for p in self.parameters() if p.requires_grad]
        return [{"params": params, "lr": lr}] if params else []
