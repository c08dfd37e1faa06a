"""Tiny models and signals for the core tests (CPU-sized, deterministic)."""

from __future__ import annotations

import math

import torch

from ncse_cli.config import from_dict
from ncse_cli.model import ModelConfig, ScoreModel, build_model

#: A cnn encoder small enough for fast tests.
SMALL_CNN = {"name": "cnn", "channels": [8, 16, 16, 32], "dim": 32}


def tiny_config(encoder="cnn", injection: str = "add", null: str = "zeros", **model) -> ModelConfig:
    """A tiny-backbone model config; ``encoder`` is a name or a component mapping."""
    enc = SMALL_CNN if encoder == "cnn" else encoder
    data = {"backbone": {"name": "tiny", "nf": 8}, "encoder": enc,
            "conditioning": {"injection": injection, "null": null}, **model}
    return from_dict(ModelConfig, data)


def tiny_model(seed: int = 0, **kwargs) -> ScoreModel:
    """A freshly initialised tiny model (deterministic for ``seed``) in eval mode."""
    torch.manual_seed(seed)
    return build_model(tiny_config(**kwargs)).eval()


def tone_mixture(num_samples: int = 4096, seed: int = 0, batch: int = 1):
    """(clean, noisy, reference) waveforms: an amplitude-modulated tone in white noise, and more of the noise."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(num_samples) / 16000
    clean = 0.5 * torch.sin(2 * math.pi * 220 * t) * torch.sin(2 * math.pi * 3 * t).abs()
    noise = 0.2 * torch.randn(batch, num_samples, generator=gen)
    ref = 0.2 * torch.randn(batch, 4000, generator=gen)
    clean = clean.expand(batch, -1).clone()
    return clean, clean + noise, ref
