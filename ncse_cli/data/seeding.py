"""Deterministic per-item random generators.

Every random choice about one item (a mixture in a prepare recipe, an example of a training dataset) comes from a
generator seeded by the run seed and the item's own keys, never from shared sequential state. Results therefore do
not depend on the order items are made in, on the number of worker processes, or on which worker makes them.
"""

from __future__ import annotations

import random
import zlib
from contextlib import contextmanager
from typing import Iterator

import numpy as np


def _key_int(key: object) -> int:
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool) and key >= 0:
        return int(key)
    return zlib.crc32(str(key).encode())


def item_rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator determined by ``seed`` and ``keys`` (non-negative ints are used as is, anything else hashed
    with CRC-32, which unlike ``hash`` is the same in every process)."""
    return np.random.default_rng([_key_int(seed)] + [_key_int(k) for k in keys])


def child_seed(rng: np.random.Generator) -> int:
    """A 63-bit seed drawn from ``rng`` (to seed libraries that keep their own generators)."""
    return int(rng.integers(0, 2 ** 63 - 1))


@contextmanager
def seeded_global_rngs(seed: int) -> Iterator[None]:
    """Seed Python's and NumPy's global generators for a block and restore their states afterwards.

    Some libraries (audiomentations) draw from the global generators; this makes them reproducible per item
    without disturbing the caller's random state.
    """
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
