"""Resumable training checkpoints without pickle: tensors in safetensors, everything else in JSON.

A checkpoint is a directory ``checkpoints/step-0001000/`` holding::

    model.safetensors       the trained (non-averaged) weights and the model's buffers
    frozen.safetensors      the weights that do not train (a frozen pre-trained tower's), when the model has any:
                            written by a run's first checkpoint, hard-linked by the later ones (the same bytes)
    ema.safetensors         the EMA model's state (weights, buffers, count; not the frozen weights it shares)
    optimizer.safetensors   optimizer tensors, flattened as ``state.<param index>.<name>``
    rng-<rank>.safetensors  each process's torch CPU (and CUDA) generator states
    rng-<rank>.json         each process's Python and NumPy generator states
    state.json              step, data position, optimizer hyper-parameters, process count

It is written into a hidden temporary directory and renamed into place, so a directory named ``step-*`` is
always complete; directories are deleted by renaming them to a hidden name first, so a crash never leaves a
partly deleted ``step-*`` either. (Accelerate's ``save_state`` would pickle the optimizer and RNG states;
loading those would unpickle arbitrary code, which :mod:`ncse_cli.model_dir` rules out.)
"""

from __future__ import annotations

import json
import random
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ncse_cli.model_dir import WEIGHTS_FILE, save_weights, weights_metadata
from ncse_cli.errors import NcseError
from ncse_cli.files import atomic_write_text, read_json

CHECKPOINTS = "checkpoints"
#: A checkpoint's weights that do not train (see the module docstring).
FROZEN_FILE = "frozen.safetensors"
_STEP_DIR = re.compile(r"^step-(\d+)$")
#: Metadata key of a run's exported ``model.safetensors``: the optimizer step of the weights.
STEP_KEY = "ncse_step"


class TrainingStateError(NcseError):
    """A training checkpoint that is missing, incomplete or does not fit the run."""


@dataclass(frozen=True)
class DataPosition:
    """Where the training data stream stands: ``batch`` batches of epoch ``epoch`` are consumed (per process)."""

    epoch: int = 0
    batch: int = 0


@dataclass(frozen=True)
class TrainingState:
    """The scalars of a checkpoint (``state.json``)."""

    step: int
    position: DataPosition
    num_processes: int
    seconds: float = 0.0  #: training time up to this step, summed over sessions


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives."""
    return run_dir / CHECKPOINTS / f"step-{step:07d}"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run, oldest first (temporary directories are ignored)."""
    folder = run_dir / CHECKPOINTS
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), d) for d in folder.iterdir() if d.is_dir() and (m := _STEP_DIR.match(d.name))]
    return sorted(found)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint, or ``None``."""
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def exported_step(run_dir: Path) -> int | None:
    """The step of the run's ``model.safetensors`` (``None``: no weights, or not exported by ``ncse train``)."""
    path = run_dir / WEIGHTS_FILE
    step = weights_metadata(path).get(STEP_KEY) if path.is_file() else None
    return int(step) if step is not None and step.isdigit() else None


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints, and leftovers of interrupted writes."""
    for _, path in list_checkpoints(run_dir)[:-keep]:
        discard_dir(path)
    for leftover in (run_dir / CHECKPOINTS).glob(".tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def discard_dir(path: Path) -> None:
    """Delete a folder by renaming it to a hidden ``.tmp-`` name first, so that a crash while deleting never
    leaves a partial folder under its real name (a leftover goes with the next prune, or the next discard of the
    same name)."""
    trash = path.with_name(f".tmp-{path.name}" if not path.name.startswith(".tmp-") else path.name)
    if trash != path:
        shutil.rmtree(trash, ignore_errors=True)
        path.rename(trash)
    shutil.rmtree(trash)


def flatten_optimizer_state(state_dict: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (``state.<idx>.<name>``) and JSON-able hyper-parameters."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in state_dict["state"].items():
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in state_dict["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def unflatten_optimizer_state(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten_optimizer_state` (``betas`` and other pairs come back as tuples)."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    for index, entry in meta["scalars"].items():
        state.setdefault(int(index), {}).update(entry)
    groups = [{k: (tuple(v) if isinstance(v, list) and k != "params" else v) for k, v in g.items()}
              for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """This process's generator states: torch CPU/CUDA as tensors, Python and NumPy as JSON-able data."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = state
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    meta = {"python": [version, list(internal), gauss],
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]}
    return tensors, meta


def set_rng_state(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("cuda.")), key=lambda k: int(k[5:]))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def write_rng_state(folder: Path, rank: int) -> None:
    """Write this process's generator states into a checkpoint being assembled."""
    tensors, meta = rng_state()
    save_weights(tensors, folder / f"rng-{rank}.safetensors")
    atomic_write_text(folder / f"rng-{rank}.json", json.dumps(meta))


def read_rng_state(folder: Path, rank: int) -> None:
    """Restore this process's generator states from a checkpoint."""
    set_rng_state(read_tensors(folder / f"rng-{rank}.safetensors"), read_json(folder / f"rng-{rank}.json"))


def write_state(folder: Path, state: TrainingState, optimizer_meta: Mapping[str, Any]) -> None:
    """Write ``state.json``: step, data position, process count and optimizer hyper-parameters."""
    data = {**asdict(state), "optimizer": dict(optimizer_meta)}
    atomic_write_text(folder / "state.json", json.dumps(data, indent=1))


def read_state(folder: Path) -> tuple[TrainingState, dict[str, Any]]:
    """The :class:`TrainingState` and optimizer hyper-parameters of a checkpoint."""
    data = read_json(folder / "state.json")
    try:
        state = TrainingState(int(data["step"]), DataPosition(**data["position"]), int(data["num_processes"]),
                              float(data.get("seconds", 0.0)))
        return state, data["optimizer"]
    except (KeyError, TypeError, ValueError) as err:
        raise TrainingStateError(f"{folder / 'state.json'}: malformed ({err})") from None


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file of a checkpoint, on the CPU."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, FileNotFoundError) as err:
        raise TrainingStateError(f"{path}: unreadable checkpoint file ({err})") from None
