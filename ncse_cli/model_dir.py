"""A trained model on disk: a directory with ``config.yaml`` (resolved) and ``model.safetensors``.

Loading reads YAML with ``safe_load`` and tensors with safetensors, so it never unpickles arbitrary objects.
The directory may hold more (the run's other config sections, training checkpoints, logs); only the
``model:`` section of ``config.yaml`` and the weights are needed to rebuild the model.

The weights carry the ``model:`` section they were saved with (metadata :data:`MODEL_CONFIG_KEY`), so that a
``config.yaml`` edited afterwards (a sample rate changed by hand would run silently at the wrong rate) is refused
at load, as are weights that are not finite and weights whose sizes do not fit the config.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Mapping

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors, save as safetensors_bytes

from ncse_cli import __version__
from ncse_cli.config import ConfigError, from_dict, load_yaml, save_yaml, to_dict
from ncse_cli.errors import NcseError
from ncse_cli.files import atomic_write_bytes
from ncse_cli.model import ModelConfig, ScoreModel, upgrade_model_section

CONFIG_FILE = "config.yaml"
WEIGHTS_FILE = "model.safetensors"
#: Metadata key of ``model.safetensors``: the ``model:`` section of ``config.yaml`` it was saved with (JSON).
MODEL_CONFIG_KEY = "ncse_model_config"
#: A safetensors header larger than this is not one (the format caps it at 100 MB).
_MAX_HEADER = 100_000_000


class ModelDirError(NcseError):
    """A model directory that cannot be loaded; the message names the file."""


def save_weights(state: Mapping[str, torch.Tensor], path: Path, metadata: Mapping[str, str] | None = None) -> None:
    """Write a state dict as safetensors atomically and durably (:func:`ncse_cli.files.atomic_write_bytes`).

    The file is serialised in memory (it is held once more while written) and written by Python, not by
    safetensors' ``save_file``: that one leaves files 0600 whatever the umask, and reports a full disk as a
    ``SafetensorError`` instead of an ``OSError`` naming the file.
    """
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    stamp = {"ncse_version": __version__, **(metadata or {})}
    atomic_write_bytes(path, safetensors_bytes(tensors, metadata=stamp))


def save_model(model: ScoreModel, directory: str | os.PathLike, config: Mapping[str, Any] | None = None,
               metadata: Mapping[str, str] | None = None) -> Path:
    """Save weights and config; ``config`` is the full run config (its ``model`` section is replaced by the model's).

    The weights carry their ``model`` section (:data:`MODEL_CONFIG_KEY`) besides ``metadata``.
    """
    directory = Path(directory)
    run_config = dict(config or {})
    run_config["model"] = to_dict(model.cfg)
    stamp = {**(metadata or {}), MODEL_CONFIG_KEY: json.dumps(run_config["model"], sort_keys=True)}
    save_weights(model.state_dict(), directory / WEIGHTS_FILE, stamp)
    save_yaml(run_config, directory / CONFIG_FILE)
    return directory


def weights_metadata(source: Path | bytes, path: Path | None = None) -> dict[str, str]:
    """The metadata of a safetensors file (its ``__metadata__``), from the file at ``source`` (its header alone
    is read) or from its bytes; ``path`` names the file in errors."""
    where = source if isinstance(source, Path) else path
    try:
        with (source.open("rb") if isinstance(source, Path) else io.BytesIO(source)) as handle:
            header = _read_header(handle)
    except (OSError, ValueError) as err:
        raise ModelDirError(f"{where}: not a readable safetensors file ({err})") from None
    metadata = header.get("__metadata__") or {}
    return {str(k): str(v) for k, v in metadata.items()} if isinstance(metadata, dict) else {}


def _read_header(handle: IO[bytes]) -> dict[str, Any]:
    """A safetensors file's JSON header: an unsigned 64-bit little-endian length, then that many bytes of JSON.
    (safetensors' own reader, ``safe_open``, takes a path only; the loader has the file's bytes in hand.)"""
    size = handle.read(8)
    if len(size) != 8:
        raise ValueError("shorter than a header")
    (length,) = struct.unpack("<Q", size)
    if length > _MAX_HEADER:
        raise ValueError(f"a header of {length} bytes")
    header = json.loads(handle.read(length).decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("its header is not a JSON object")
    return header


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


def read_state(files: ModelFiles) -> dict[str, torch.Tensor]:
    """The weights of a directory read by :func:`read_model_files`, on the CPU, checked: saved with the
    ``config.yaml`` that is there now (:func:`check_config_unchanged`), and finite (:func:`check_finite`)."""
    path = files.directory / files.weights_file
    check_config_unchanged(files)
    try:
        state = load_safetensors(files.weights)
    except SafetensorError as err:
        raise ModelDirError(f"{path}: not a readable safetensors file ({err})") from None
    check_finite(state, path)
    return state


def model_from_files(files: ModelFiles, device: str | torch.device = "cpu") -> ScoreModel:
    """The model of a directory read by :func:`read_model_files`, on ``device``, in eval mode."""
    state = read_state(files)  # checked before a large network is built for nothing
    model = ScoreModel(files.model_config, load_pretrained=False)
    path = files.directory / files.weights_file
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # sizes that differ: torch lists every one of them, on many lines
        raise ModelDirError(f"{path}: weights do not match {files.directory / CONFIG_FILE} "
                            f"({_first_mismatch(str(err))})") from None
    if missing or unexpected:
        raise ModelDirError(f"{path}: weights do not match the config "
                            f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")
    return model.to(device).eval()


def check_config_unchanged(files: ModelFiles) -> None:
    """Refuse a ``config.yaml`` whose ``model`` section differs from the one the weights were saved with.
    Weights saved without it (ncse 0.1, or :func:`save_weights` alone) pass.

    The two are compared as written, before :func:`~ncse_cli.model.upgrade_model_section` reads an older layout
    in today's: an ncse 0.1 section stays as it was on disk, so it matches its own weights whatever a newer ncse
    makes of it.
    """
    path = files.directory / files.weights_file
    saved = weights_metadata(files.weights, path).get(MODEL_CONFIG_KEY)
    if saved is None:
        return
    try:
        stamped = json.loads(saved)
    except json.JSONDecodeError:
        raise ModelDirError(f"{path}: its {MODEL_CONFIG_KEY} metadata is not JSON (a damaged file?)") from None
    where = _first_difference(stamped, files.config.get("model"), "model")
    if where is not None:
        key, then, now = where
        raise ModelDirError(f"{files.directory / CONFIG_FILE}: does not match {files.weights_file} ({key} was {then} "
                            f"when the weights were saved, now {now}); was it edited? Undo the edit")


def _first_difference(saved: Any, current: Any, key: str) -> tuple[str, str, str] | None:
    """The first dotted key where two plain config trees differ (a component's name first), with both values."""
    if isinstance(saved, dict) and isinstance(current, dict):
        names = sorted(set(saved) | set(current), key=lambda name: (name != "name", str(name)))
        for name in names:
            if name not in saved or name not in current:
                return f"{key}.{name}", repr(saved.get(name, "absent")), repr(current.get(name, "absent"))
            found = _first_difference(saved[name], current[name], f"{key}.{name}")
            if found is not None:
                return found
        return None
    return None if saved == current else (key, repr(saved), repr(current))


def check_finite(state: Mapping[str, torch.Tensor], path: Path) -> None:
    """Refuse weights holding NaN or infinite values (a corrupted file), naming the file and the first tensor.

    A NaN or infinite element makes a tensor's sum NaN or infinite, so a finite sum clears the tensor: one
    reduction instead of a boolean copy (28x faster on 80 M float32 weights). A sum that overflows on finite
    values is checked element by element."""
    for name, tensor in state.items():
        if not (tensor.is_floating_point() or tensor.is_complex()) or torch.isfinite(tensor.sum()).all():
            continue
        if not torch.isfinite(tensor).all():
            raise ModelDirError(f"{path}: corrupted weights ({name} holds NaN or infinite values)")


def _first_mismatch(message: str) -> str:
    """The first 'size mismatch for ...' line of torch's ``load_state_dict`` error, and how many more there are."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    mismatches = [line for line in lines if line.startswith("size mismatch")]
    more = f"; {len(mismatches) - 1} more" if len(mismatches) > 1 else ""
    return (mismatches[0] if mismatches else lines[-1]) + more


def load_model(directory: str | os.PathLike, device: str | torch.device = "cpu",
               weights: str = WEIGHTS_FILE) -> ScoreModel:
    """Rebuild a model from its directory alone, in eval mode."""
    return model_from_files(read_model_files(directory, weights), device)
