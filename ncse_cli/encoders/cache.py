"""A bounded CPU cache of frozen-tower embeddings, keyed by the reference's name (file and segment).

A frozen pre-trained tower maps a given reference to the same embedding every time, so in training with a static
manifest (the same references every epoch) it needs to run once per distinct reference. Entries are keyed by the
``keys`` an encoder receives (an empty key never caches) and checked against a fingerprint of the samples the
tower would see: the reference is scaled by its mixture's peak before encoding, so one reference file paired
with two mixtures arrives at two levels, and a key alone would return the embedding of the wrong level. A
fingerprint mismatch is a miss and replaces the entry. Least recently used entries go first once ``capacity``
is reached.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Sequence

import torch


def fingerprint(ref: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Per row of ``ref [B, R]``: (valid length, sum, energy, peak) of the valid samples, float64 ``[B, 4]``."""
    valid = torch.arange(ref.shape[-1], device=ref.device)[None, :] < lengths.to(ref.device)[:, None]
    x = torch.where(valid, ref, torch.zeros((), dtype=ref.dtype, device=ref.device)).double()
    stats = [lengths.to(x), x.sum(-1), x.square().sum(-1), x.abs().amax(-1)]
    return torch.stack(stats, dim=-1).cpu()


@dataclass
class CacheStats:
    """How often the cache answered (``hits``), had to run the tower (``misses``), or held a stale level."""

    hits: int = 0
    misses: int = 0
    stale: int = 0


class EmbeddingCache:
    """Key -> (fingerprint, embedding) with least-recently-used eviction; embeddings live on the CPU."""

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"cache capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self.stats = CacheStats()
        self._entries: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every entry (the tower's weights changed)."""
        self._entries.clear()

    def lookup(self, keys: Sequence[str], prints: torch.Tensor) -> list[torch.Tensor | None]:
        """The stored embedding for each key whose fingerprint matches, else ``None`` (counted as a miss)."""
        found: list[torch.Tensor | None] = []
        for key, print_ in zip(keys, prints):
            entry = self._entries.get(key) if key and self.capacity else None
            if entry is not None and not torch.allclose(entry[0], print_, rtol=1e-9, atol=0.0):
                self.stats.stale += 1
                entry = None
            if entry is None:
                self.stats.misses += 1
                found.append(None)
            else:
                self.stats.hits += 1
                self._entries.move_to_end(key)
                found.append(entry[1])
        return found

    def store(self, key: str, print_: torch.Tensor, embedding: torch.Tensor) -> None:
        """Remember ``embedding`` (detached, on the CPU) for ``key``; empty keys and capacity 0 store nothing."""
        if not key or not self.capacity:
            return
        self._entries[key] = (print_, embedding.detach().cpu())
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
