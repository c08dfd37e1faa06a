"""The absent encoder: the unconditioned SGMSE+ baseline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ncse_cli.conditioning import Condition
from ncse_cli.encoders.base import ENCODERS, EncoderContext, NoiseEncoder


@ENCODERS.register("none")
class NoEncoder(NoiseEncoder):
    """Produces the empty condition; the backbone then has no conditioning path (plain SGMSE+)."""

    @dataclass(frozen=True)
    class Config:
        pass

    def __init__(self, cfg: Config | None = None, ctx: EncoderContext = EncoderContext()) -> None:
        super().__init__()

    def forward(self, ref: torch.Tensor, lengths: torch.Tensor | None = None,
                keys: Sequence[str] | None = None) -> Condition:
        return Condition()
