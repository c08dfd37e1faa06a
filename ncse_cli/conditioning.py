"""The condition a noise encoder hands to the score network, and the null condition of classifier-free guidance.

Ho & Salimans, "Classifier-Free Diffusion Guidance", NeurIPS 2021 Workshop (arXiv:2207.12598): one network is
trained both conditionally and, with probability ``p_uncond`` per example, on a null condition; at inference the
two scores are mixed as ``s_uncond + w (s_cond - s_uncond)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Hashable, Literal

import torch
from torch import nn


@dataclass
class ConditionSpec:
    """The shapes an encoder produces: a global vector, a token sequence, both or neither."""

    vector_dim: int | None = None
    token_dim: int | None = None
    num_tokens: int | None = None

    @property
    def is_empty(self) -> bool:
        return self.vector_dim is None and self.token_dim is None


@dataclass
class Condition:
    """An encoded noise reference for a batch: ``vector [B, D]`` and/or ``tokens [B, L, D]`` with ``mask [B, L]``.

    ``cached(key, fn)`` memoises anything derived from the condition (FiLM parameters, cross-attention keys
    and values): a condition built once per utterance is then projected once per utterance, not once per
    sampler step.
    """

    vector: torch.Tensor | None = None
    tokens: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_empty(self) -> bool:
        return self.vector is None and self.tokens is None

    @property
    def batch_size(self) -> int | None:
        tensor = self.vector if self.vector is not None else self.tokens
        return None if tensor is None else tensor.shape[0]

    def cached(self, key: Hashable, compute: Callable[[], torch.Tensor]):
        """``compute()`` the first time ``key`` is asked for, the stored result afterwards."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def where(self, use_other: torch.Tensor, other: "Condition") -> "Condition":
        """Per example: ``other`` where ``use_other [B]`` is true, ``self`` elsewhere (a fresh, uncached condition)."""
        def pick(mine, theirs):
            if mine is None:
                return None
            keep = use_other.reshape(-1, *([1] * (mine.dim() - 1)))
            return torch.where(keep, theirs.to(mine.dtype), mine)
        return Condition(pick(self.vector, other.vector), pick(self.tokens, other.tokens),
                         pick(self.mask, other.mask))

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> "Condition":
        """Apply ``fn`` to every tensor (e.g. ``.detach()``, ``.to(device)``, ``.repeat(...)``)."""
        return Condition(*(None if t is None else fn(t) for t in (self.vector, self.tokens, self.mask)))

    @staticmethod
    def cat(conditions: list["Condition"]) -> "Condition":
        """Concatenate along the batch; all parts must have the same fields set."""
        def join(name):
            parts = [getattr(c, name) for c in conditions]
            if all(p is None for p in parts):
                return None
            if any(p is None for p in parts):
                raise ValueError(f"cannot concatenate conditions with and without {name}")
            return torch.cat(parts)
        return Condition(join("vector"), join("tokens"), join("mask"))


NullMode = Literal["zeros", "learned"]


class NullCondition(nn.Module):
    """The condition used for unconditional scores: zeros (the plan's choice) or a learned embedding."""

    def __init__(self, spec: ConditionSpec, mode: NullMode = "zeros") -> None:
        super().__init__()
        if mode not in ("zeros", "learned"):
            raise ValueError(f"unknown null condition {mode!r}; choose zeros or learned")
        self.mode = mode
        self.spec = spec
        learned = mode == "learned"
        self.vector = nn.Parameter(torch.zeros(spec.vector_dim)) if learned and spec.vector_dim else None
        self.tokens = (nn.Parameter(torch.zeros(spec.num_tokens, spec.token_dim))
                       if learned and spec.token_dim and spec.num_tokens else None)

    def batch(self, batch_size: int, device: torch.device | None = None,
              dtype: torch.dtype = torch.float32) -> Condition:
        """The null condition for ``batch_size`` examples with no reference at all (shapes from the spec)."""
        spec = self.spec
        vector = torch.zeros(batch_size, spec.vector_dim, device=device, dtype=dtype) if spec.vector_dim else None
        tokens = mask = None
        if spec.token_dim:
            tokens = torch.zeros(batch_size, spec.num_tokens or 1, spec.token_dim, device=device, dtype=dtype)
            mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=device)
        return self.like(Condition(vector, tokens, mask))

    def like(self, cond: Condition) -> Condition:
        """A null condition with the batch size, shapes, dtype and device of ``cond``; every token valid."""
        def fill(tensor, learned):
            if tensor is None:
                return None
            if learned is None:
                return torch.zeros_like(tensor)
            return learned.to(tensor.dtype).expand_as(tensor)
        mask = None if cond.mask is None else torch.ones_like(cond.mask)
        return Condition(fill(cond.vector, self.vector), fill(cond.tokens, self.tokens), mask)
