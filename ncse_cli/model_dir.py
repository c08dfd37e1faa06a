"""A trained model on disk: a directory with ``config.yaml`` (resolved) and ``model.safetensors``.

Loading reads YAML with ``safe_load`` and tensors with safetensors, so it never unpickles arbitrary objects.
The directory may hold more (the run's other config sections, training checkpoints, logs); only the
``model:`` section of ``config.yaml`` and the weights are needed to rebuild the model.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors, save_file

from ncse_cli import __version__
from ncse_cli.config import ConfigError, from_dict, load_yaml, save_yaml, to_dict
from ncse_cli.errors import NcseError
from ncse_cli.files import atomic_output
from ncse_cli.model import ModelConfig, ScoreModel, upgrade_model_section

CONFIG_FILE = "config.yaml"
WEIGHTS_FILE = "model.safetensors"


class ModelDirError(NcseError):
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


@dataclass(frozen=True)
class ModelFiles:
    """A model directory read once: every section of its ``config.yaml`` (the ``model`` one checked), and its
    weights file's bytes."""

    directory: Path
    config: dict[str, Any]
    model_config: ModelConfig
    weights: bytes
    weights_file: str = WEIGHTS_FILE

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the weights (results made with other weights are never mixed with these)."""
        return hashlib.sha256(self.weights).hexdigest()


def read_config(directory: str | os.PathLike) -> dict[str, Any]:
    """Every section of a model directory's ``config.yaml``."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise ModelDirError(f"{directory}: not a model directory (no {CONFIG_FILE})")
    return load_yaml(path)


def model_config(config: Mapping[str, Any], directory: str | os.PathLike) -> ModelConfig:
    """The :class:`ModelConfig` of a model directory's config (its ``model:`` section; an older layout is read with
    the settings it was trained with: :func:`~ncse_cli.model.upgrade_model_section`)."""
    path = Path(directory) / CONFIG_FILE
    if not isinstance(config.get("model"), Mapping):
        raise ModelDirError(f"{path}: no 'model' section")
    try:
        return from_dict(ModelConfig, upgrade_model_section(config["model"]), "model")
    except ConfigError as err:
        raise ModelDirError(f"{path}: {err}") from None


def load_model_config(directory: str | os.PathLike) -> ModelConfig:
    """The :class:`ModelConfig` stored in a model directory."""
    return model_config(read_config(directory), directory)


def read_model_files(directory: str | os.PathLike, weights: str = WEIGHTS_FILE) -> ModelFiles:
    """Read a model directory's config and weights, each once."""
    directory = Path(directory)
    config = read_config(directory)
    cfg = model_config(config, directory)
    path = directory / weights
    if not path.is_file():
        raise ModelDirError(f"{path}: no such weights file")
    return ModelFiles(directory, config, cfg, path.read_bytes(), weights)


def model_from_files(files: ModelFiles, device: str | torch.device = "cpu") -> ScoreModel:
    """The model of a directory read by :func:`read_model_files`, on ``device``, in eval mode."""
    model = ScoreModel(files.model_config, load_pretrained=False)
    path = files.directory / files.weights_file
    try:
        state = load_safetensors(files.weights)
    except SafetensorError as err:
        raise ModelDirError(f"{path}: not a readable safetensors file ({err})") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelDirError(f"{path}: weights do not match the config "
                            f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")
    return model.to(device).eval()


def load_model(directory: str | os.PathLike, device: str | torch.device = "cpu",
               weights: str = WEIGHTS_FILE) -> ScoreModel:
    """Rebuild a model from its directory alone, in eval mode."""
    return model_from_files(read_model_files(directory, weights), device)
