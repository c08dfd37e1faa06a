"""Randomly initialised pre-trained towers saved in the official checkpoint layouts, and tiny models using them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ncse_cli.model import ScoreModel, build_model
from ncse_cli.encoders.clap import CLAPAudioTower
from ncse_cli.encoders.panns import Cnn14Tower

from tests.core.factories import tiny_config


def write_clap_checkpoint(path: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """A LAION-CLAP-style training checkpoint (``state_dict`` with ``module.`` keys, text side included);
    returns the audio tower's state (keys without the prefix)."""
    torch.manual_seed(seed)
    audio = CLAPAudioTower().state_dict()
    text = {"text_branch.embeddings.word_embeddings.weight": torch.randn(10, 4),
            "text_branch.embeddings.position_ids": torch.arange(6)[None],
            "text_projection.0.weight": torch.randn(4, 4), "logit_scale_a": torch.tensor(2.6),
            "logit_scale_t": torch.tensor(2.6)}
    state = {f"module.{k}": v for k, v in {**audio, **text}.items()}
    torch.save({"epoch": 45, "name": "630k-audioset", "state_dict": state,
                "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.99), "params": [0]}]}},
               path)
    return audio


def write_panns_checkpoint(path: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """A PANNs-style checkpoint (``iteration``, ``model`` state dict, sampler state with numpy arrays)."""
    torch.manual_seed(seed)
    model = Cnn14Tower(window=32000).cnn14.state_dict()
    sampler = {"indexes_per_class": [np.arange(5), np.arange(3)], "queue": [4, 1],
               "pointers_of_classes": [0, 2]}
    torch.save({"iteration": 600000, "model": model, "sampler": sampler}, path)
    return model


def clap_config(ckpt: Path | str | None, **fields) -> dict:
    return {"name": "clap", "ckpt": None if ckpt is None else str(ckpt), "dim": 16, **fields}


def panns_config(ckpt: Path | str | None, **fields) -> dict:
    return {"name": "panns", "ckpt": None if ckpt is None else str(ckpt), "dim": 16, "window_seconds": 0.75,
            **fields}


def tiny_pretrained_model(encoder: dict, injection: str = "add", seed: int = 0) -> ScoreModel:
    """A tiny-backbone score model with a pre-trained encoder, in train mode."""
    torch.manual_seed(seed)
    return build_model(tiny_config(encoder=encoder, injection=injection)).train()
