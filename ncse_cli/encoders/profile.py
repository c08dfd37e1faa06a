"""The noise profile: the reference's mean power in every frequency bin of the model's own spectrogram.

The classical estimate of the noise that spectral subtraction and Wiener filtering start from (Boll, "Suppression
of acoustic noise in speech using spectral subtraction", IEEE TASSP 1979; Ephraim & Malah, IEEE TASSP 1984),
here handed to the score network as a condition. Unlike an embedding vector, it keeps its frequency axis: with the
``profile`` injection (:mod:`ncse_cli.backbones.ncsnpp`) it enters the network as a map over the spectrogram, so
the network can relate the noise at each frequency to the mixture at that frequency without first learning a
code for it. It has no parameters, so it adds nothing to train and costs one STFT per reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ncse_cli.conditioning import Condition, ConditionSpec
from ncse_cli.encoders.base import ENCODERS, EncoderContext, NoiseEncoder
from ncse_cli.encoders.cnn import length_groups
from ncse_cli.stft import Spectrogram


@ENCODERS.register("profile")
class ProfileEncoder(NoiseEncoder):
    """A reference -> ``log(1 + P / floor)`` per frequency bin, ``P`` its mean power over frames in the model's
    (compressed) spectrogram: ``[B, freq_bins]``, 0 for silence (as the zero null condition)."""

    @dataclass(frozen=True)
    class Config:
        floor: float = 1e-4  #: power that counts as silence (the compressed spectrogram's scale)

        def __post_init__(self) -> None:
            if not self.floor > 0:
                raise ValueError(f"profile floor must be positive, got {self.floor}")

    def __init__(self, cfg: Config | None = None, ctx: EncoderContext = EncoderContext()) -> None:
        super().__init__()
        self.cfg = cfg or self.Config()
        self.spectrogram = Spectrogram(ctx.stft)
        self.spec = ConditionSpec(vector_dim=ctx.stft.freq_bins)

    def forward(self, ref: torch.Tensor, lengths: torch.Tensor | None = None, keys=None) -> Condition:
        """``ref [B, R]`` with valid ``lengths [B]``: each row's profile from its valid samples only."""
        rows_of = length_groups(ref, lengths)
        profiles = torch.cat([self.profile(ref[rows, :length]) for rows, length in rows_of])
        order = torch.argsort(torch.cat([rows for rows, _ in rows_of]))
        return Condition(vector=profiles[order])

    def profile(self, ref: torch.Tensor) -> torch.Tensor:
        """Equal-length references ``[b, R]`` -> ``[b, freq_bins]``."""
        power = self.spectrogram(ref).abs().square()[:, 0].mean(-1)
        return torch.log1p(power / self.cfg.floor)
