"""Classifier-free guidance as a model function: ``out_uncond + w (out_cond - out_uncond)`` (Ho & Salimans 2022).

Guidance mixes the network outputs. Every output parameterisation of :class:`~ncse_cli.model.ScoreModel` is
affine in the output for a fixed state, time and mixture, so mixing outputs is the same as mixing scores, and the
same as mixing clean estimates (the Schrodinger bridge's guidance on the predicted clean spectrogram).

The condition is fixed for the whole trajectory, so it is encoded, concatenated with the null condition and
projected (FiLM, cross-attention keys/values: see :meth:`Condition.cached`) once per utterance; each step then
runs the conditional and unconditional branches as one batched forward. ``w = 1`` runs the conditional branch
alone and ``w = 0`` the unconditional one.
"""

from __future__ import annotations

import torch

from ncse_cli.conditioning import Condition
from ncse_cli.model import ScoreModel


class Guidance:
    """A model at a fixed condition and guidance scale ``w``: ``score(x, t, y)`` and ``clean(x, t, y)``.

    ``branches`` is the number of network evaluations per call (2 when guiding, else 1); ``calls`` counts calls.
    An unconditioned model gives its plain output; a conditioned model without a reference (``cond`` None or
    empty) gives its unconditional output, on the null condition, whatever ``w``.
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

    def output(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The guided network output."""
        self.calls += 1
        if self.cond is None:
            self.cond = self.model.null.batch(x.shape[0], x.device, x.real.dtype)
        if self.branches == 1:
            return self.model(x, t, y, self.cond)
        both = self.model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, y]), self.cond)
        cond_out, uncond_out = both.chunk(2)
        return uncond_out + self.w * (cond_out - uncond_out)

    def score(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The guided score."""
        return self.model.output_to_score(self.output(x, t, y), x, t, y)

    def clean(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The guided clean-spectrogram estimate."""
        return self.model.output_to_clean(self.output(x, t, y), x, t, y)

    __call__ = score

    @property
    def network_evaluations(self) -> int:
        """Backbone evaluations per example so far (a guided call evaluates both branches)."""
        return self.calls * self.branches
