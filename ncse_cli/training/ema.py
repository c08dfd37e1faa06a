"""Exponential moving average of the model weights (and buffers): the weights a run exports for inference.

SGMSE+ (Richter et al., TASLP 2023) keeps an EMA with decay 0.999 through the ``torch_ema`` package, whose
default ``use_num_updates`` caps the decay at ``(1 + n) / (10 + n)`` after ``n`` updates (the rule of
TensorFlow's ``ExponentialMovingAverage``). The average is a ``torch.optim.swa_utils.AveragedModel``
(:class:`EMA`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def ema_decay_at(decay: float, updates: int, warmup: bool = True) -> float:
    """The decay applied at update number ``updates`` (0-based count of earlier updates)."""
    return min(decay, (1 + updates) / (10 + updates)) if warmup else decay


class EMA(AveragedModel):
    """An ``AveragedModel`` (same state dict: ``module.*`` and ``n_averaged``) whose update never waits for the
    device: ``AveragedModel.update_parameters`` tests its count tensor in Python, a host-device sync every step.
    The count is mirrored on the host (read back once after ``load_state_dict``)."""

    def __init__(self, model: nn.Module, decay: float, warmup: bool = True) -> None:
        super().__init__(model, use_buffers=True)
        self.decay, self.warmup = decay, warmup
        self.updates: int | None = 0  #: host copy of ``n_averaged``; None until read after loading
        self.register_load_state_dict_post_hook(EMA._forget_updates)

    @staticmethod
    def _forget_updates(module: "EMA", incompatible_keys) -> None:
        module.updates = None

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        """``ema <- d ema + (1 - d) model`` over parameters and float buffers with the decay of
        :func:`ema_decay_at`; the first update copies; integer buffers (counters) are always copied."""
        if self.updates is None:
            self.updates = int(self.n_averaged)
        pairs = list(zip([*self.module.parameters(), *self.module.buffers()],
                         [t.detach() for t in (*model.parameters(), *model.buffers())]))
        floats = [(e, p) for e, p in pairs if e.is_floating_point()] if self.updates else []
        if floats:
            weight = 1.0 - ema_decay_at(self.decay, self.updates, self.warmup)
            torch._foreach_lerp_([e for e, _ in floats], [p for _, p in floats], weight)
        for e, p in pairs:
            if not (floats and e.is_floating_point()):
                e.copy_(p)
        self.n_averaged += 1
        self.updates += 1


def build_ema(model: nn.Module, decay: float, warmup: bool = True) -> EMA:
    """An EMA copy of ``model`` (parameters and buffers), frozen and in eval mode; the first update copies."""
    ema = EMA(model, decay, warmup)
    ema.requires_grad_(False)
    return ema.eval()
