"""A trained model on disk: a directory with ``config.yaml`` (resolved) and ``model.safetensors``.

Loading reads YAML with ``safe_load`` and tensors with safetensors, so it never unpickles arbitrary objects.
The directory may hold more (the run's other config sections, training checkpoints, logs); only the
``model:`` section of ``config.yaml`` and the weights are needed to rebuild the model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ncse_cli import __version__
from ncse_cli.config import ConfigError, from_dict, load_yaml, save_yaml, to_dict
from ncse_cli.errors import NcseError
from ncse_cli.files import atomic_output
from ncse_cli.model import ModelConfig, ScoreModel

CONFIG_FILE = "config.yaml"
WEIGHTS_FILE = "model.safetensors"


class CheckpointError(NcseError):
    """A model directory that cannot be loaded; the message names the file."""


def save_weights(state: Mapping[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write a state dict as safetensors atomically and durably (:func:`ncse_cli.files.atomic_output`)."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    with atomic_output(path, suffix=".tmp.safetensors") as tmp:
        save_file(tensors, str(tmp), metadata={"ncse_version": __version__, **(metadata or {})})


def save_model(model: ScoreModel, directory: str | os.PathLike, config: Mapping[str, Any] | None = None) -> Path:
    """Save weights and config; ``config`` is the full run config (its ``model`` section is replaced by the model's)."""
    directory = Path(directory)
    run_config = dict(config or {})
    run_config["model"] = to_dict(model.cfg)
    save_weights(model.state_dict(), directory / WEIGHTS_FILE)
    save_yaml(run_config, directory / CONFIG_FILE)
    return directory


def load_model_config(directory: str | os.PathLike) -> ModelConfig:
    """The :class:`ModelConfig` stored in a model directory."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory}: not a model directory (no {CONFIG_FILE})")
    data = load_yaml(path)
    if "model" not in data:
        raise CheckpointError(f"{path}: no 'model' section")
    try:
        return from_dict(ModelConfig, data["model"], "model")
    except ConfigError as err:
        raise CheckpointError(f"{path}: {err}") from None


def load_model(directory: str | os.PathLike, device: str | torch.device = "cpu",
               weights: str = WEIGHTS_FILE) -> ScoreModel:
    """Rebuild a model from its directory alone, in eval mode."""
    directory = Path(directory)
    model = ScoreModel(load_model_config(directory), load_pretrained=False)
    path = directory / weights
    if not path.is_file():
        raise CheckpointError(f"{path}: no such weights file")
    try:
        state = load_file(str(path), device=str(device))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not match the config "
                              f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")
    return model.to(device).eval()
