"""Exponential moving average of the model weights (and buffers): the weights a run exports for inference.

SGMSE+ (Richter et al., TASLP 2023) keeps an EMA with decay 0.999 through the ``torch_ema`` package, whose
default ``use_num_updates`` caps the decay at ``(1 + n) / (10 + n)`` after ``n`` updates (the rule of
TensorFlow's ``ExponentialMovingAverage``). The average is a ``torch.optim.swa_utils.AveragedModel``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def ema_decay_at(decay: float, updates: int, warmup: bool = True) -> float:
    """The decay applied at update number ``updates`` (0-based count of earlier updates)."""
    return min(decay, (1 + updates) / (10 + updates)) if warmup else decay


def ema_multi_avg_fn(decay: float, warmup: bool = True):
    """An ``AveragedModel`` ``multi_avg_fn``: ``ema <- d ema + (1 - d) param`` with the decay of :func:`ema_decay_at`."""

    @torch.no_grad()
    def update(ema_params: list[torch.Tensor], params: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        d = ema_decay_at(decay, int(num_averaged), warmup)
        floats = [(e, p) for e, p in zip(ema_params, params) if e.is_floating_point()]
        if floats:
            torch._foreach_lerp_([e for e, _ in floats], [p for _, p in floats], 1.0 - d)
        for e, p in zip(ema_params, params):  # integer buffers (counters) are copied, not averaged
            if not e.is_floating_point():
                e.copy_(p)

    return update


def build_ema(model: nn.Module, decay: float, warmup: bool = True) -> AveragedModel:
    """An EMA copy of ``model`` (parameters and buffers), frozen and in eval mode; the first update copies."""
    ema = AveragedModel(model, multi_avg_fn=ema_multi_avg_fn(decay, warmup), use_buffers=True)
    ema.requires_grad_(False)
    return ema.eval()
