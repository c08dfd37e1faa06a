"""Classifier-free guidance as a score function: ``s_uncond + w (s_cond - s_uncond)`` (Ho & Salimans 2022).

The condition is fixed for the whole trajectory, so it is encoded, concatenated with the null condition and
projected (FiLM, cross-attention keys/values: see :meth:`Condition.cached`) once per utterance; each step then
runs the conditional and unconditional branches as one batched forward. ``w = 1`` runs the conditional branch
alone and ``w = 0`` the unconditional one.
"""

from __future__ import annotations

import torch

from ncse_cli.conditioning import Condition
from ncse_cli.model import ScoreModel


class GuidedScore:
    """``score(x, t, y)`` of a model for a fixed condition and guidance scale ``w``.

    ``branches`` is the number of network evaluations per call (2 when guiding, else 1); ``calls`` counts calls.
    An unconditioned model gives its plain score; a conditioned model without a reference (``cond`` None or
    empty) gives its unconditional score, on the null condition, whatever ``w``.
    """

    def __init__(self, model: ScoreModel, cond: Condition | None, w: float = 1.0) -> None:
        self.model = model
        self.w = float(w)
        self.calls = 0
        if not model.conditional:
            self.cond, self.branches, self.mode = Condition(), 1, "plain"
        elif cond is None or cond.is_empty:
            self.cond, self.branches, self.mode = None, 1, "unconditional"  # null condition sized at first call
        elif self.w == 1.0:
            self.cond, self.branches, self.mode = cond, 1, "conditional"
        elif self.w == 0.0:
            self.cond, self.branches, self.mode = model.null_condition(cond), 1, "unconditional"
        else:
            self.cond, self.branches, self.mode = Condition.cat([cond, model.null_condition(cond)]), 2, "guided"

    def __call__(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.cond is None:
            self.cond = self.model.null.batch(x.shape[0], x.device, x.real.dtype)
        if self.branches == 1:
            return self.model.score(x, t, y, self.cond)
        both = self.model.score(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, y]), self.cond)
        cond_score, uncond_score = both.chunk(2)
        return uncond_score + self.w * (cond_score - uncond_score)

    @property
    def network_evaluations(self) -> int:
        """Backbone evaluations per example so far (a guided call evaluates both branches)."""
        return self.calls * self.branches
