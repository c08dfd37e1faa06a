"""Exponential moving average of the model weights (and buffers): the weights a run exports for inference.

SGMSE+ (Richter et al., TASLP 2023) keeps an EMA with decay 0.999 through the ``torch_ema`` package, whose
default ``use_num_updates`` caps the decay at ``(1 + n) / (10 + n)`` after ``n`` updates (the rule of
TensorFlow's ``ExponentialMovingAverage``). The average is a ``torch.optim.swa_utils.AveragedModel``
(:class:`EMA`).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def ema_decay_at(decay: float, updates: int, warmup: bool = True) -> float:
    """The decay applied at update number ``updates`` (0-based count of earlier updates)."""
    return min(decay, (1 + updates) / (10 + updates)) if warmup else decay


class EMA(AveragedModel):
    """An ``AveragedModel`` (same state dict: ``module.*`` and ``n_averaged``) whose update never waits for the
    device: ``AveragedModel.update_parameters`` tests its count tensor in Python, a host-device sync every step.
    The count is mirrored on the host (read back once after ``load_state_dict``).

    Parameters that do not train (a frozen pre-trained encoder tower: PANNs Cnn14 holds 82 M) are the average of
    themselves: the copy shares them with the model instead of holding a second copy, updates skip them, and
    :meth:`averaged_state` (what a training checkpoint stores beside the model's own state) leaves them out;
    :attr:`shared` names them, and a checkpoint stores them once (:mod:`ncse_cli.training.checkpoints`).
    """

    def __init__(self, model: nn.Module, decay: float, warmup: bool = True) -> None:
        nn.Module.__init__(self)  # AveragedModel's fields, set here: its __init__ would copy every parameter
        fixed = {id(p): p for p in model.parameters() if not p.requires_grad}
        self.module = copy.deepcopy(model, memo=dict(fixed))  # the memo makes the copy reuse these objects
        self.register_buffer("n_averaged", torch.tensor(0, dtype=torch.long))
        self.avg_fn, self.multi_avg_fn, self.use_buffers = None, None, True
        #: state-dict keys of the parameters shared with the model
        self.shared = frozenset(f"module.{name}" for name, p in self.module.named_parameters() if id(p) in fixed)
        self.decay, self.warmup = decay, warmup
        self.updates: int | None = 0  #: host copy of ``n_averaged``; None until read after loading
        self.register_load_state_dict_post_hook(EMA._forget_updates)

    def averaged_state(self) -> dict[str, torch.Tensor]:
        """The state dict without the parameters shared with the model."""
        return {k: v for k, v in self.state_dict().items() if k not in self.shared}

    def load_averaged_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load :meth:`averaged_state` (or a whole state dict, as older checkpoints hold): every key but the
        shared ones is required; a RuntimeError names what does not fit."""
        missing, unexpected = self.load_state_dict(state, strict=False)
        missing = sorted(set(missing) - self.shared)
        if missing or unexpected:
            raise RuntimeError(f"Error(s) in loading state_dict for EMA: missing {missing[:3]}, "
                               f"unexpected {sorted(unexpected)[:3]}")

    @staticmethod
    def _forget_updates(module: "EMA", incompatible_keys) -> None:
        module.updates = None

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        """``ema <- d ema + (1 - d) model`` over parameters and float buffers with the decay of
        :func:`ema_decay_at`; the first update copies; integer buffers (counters) are always copied."""
        if self.updates is None:
            self.updates = int(self.n_averaged)
        pairs = [(e, p.detach()) for e, p in zip([*self.module.parameters(), *self.module.buffers()],
                                                 [*model.parameters(), *model.buffers()]) if e is not p]
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
    """An EMA copy of ``model`` (parameters and buffers; those that do not train shared), frozen and in eval mode;
    the first update copies."""
    ema = EMA(model, decay, warmup)
    ema.requires_grad_(False)
    return ema.eval()
