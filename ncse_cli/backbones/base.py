"""The registry of score-network backbones: ``forward(x, t, cond) -> output`` on real channels."""

from __future__ import annotations

from ncse_cli.registry import Registry

BACKBONES: Registry[type] = Registry("backbone")
