"""Saving and restoring a whole :class:`~ncse_cli.training.session.Session` (see :mod:`ncse_cli.training.state`).

Saving also exports the EMA weights as the run's ``model.safetensors`` next to ``config.yaml``, so the run
directory is a loadable model directory (``ncse_cli.model_dir.load_model``) after every checkpoint.

Crash consistency: every change becomes visible through one rename, in an order that leaves a state a kill -9
at any moment can resume from, to the same bit-identical end.

* A checkpoint is assembled in ``checkpoints/.tmp-step-N`` and renamed to ``step-N``: a ``step-*`` directory is
  always complete.
* The export (stamped with its step) is renamed into place *before* its checkpoint, so ``model.safetensors`` is
  never older than the newest checkpoint. A crash between the two leaves the weights of step N and the
  checkpoint before it; resuming from there recomputes exactly those weights.
* A new run starts with the checkpoint of step 0 (see :func:`ncse_cli.training.rundir.start_run`), so a run
  directory never exists without a checkpoint to resume from.

Weights that do not train (a frozen PANNs Cnn14 is 82 M parameters, 330 MB) are the same in every checkpoint of a
run: the first checkpoint writes them to ``frozen.safetensors`` and each later one hard-links the file of the
checkpoint before it, so saving costs what the trained part costs and the run's checkpoints hold those bytes once.
Each checkpoint directory stays complete on its own (deleting one leaves the others' links intact); where the file
system has no hard links the file is written again. The price: the kept checkpoints share one copy of those bytes
(a damaged disk block reaches all of them), and copying a run without preserving hard links (``cp -r``, ``rsync``
without ``-H``) stores them once per checkpoint.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Mapping

import torch
from safetensors import safe_open

from ncse_cli.model_dir import save_model, save_weights
from ncse_cli.config import to_dict
from ncse_cli.training.session import Session, TrainingError
from ncse_cli.training.state import (FROZEN_FILE, STEP_KEY, TrainingState, checkpoint_dir, discard_dir,
                                     flatten_optimizer_state, latest_checkpoint, prune_checkpoints, read_rng_state,
                                     read_state, read_tensors, unflatten_optimizer_state, write_rng_state,
                                     write_state)


def save(session: Session) -> Path:
    """Export the EMA model, then commit the checkpoint of the current step (every process joins)."""
    final = checkpoint_dir(session.run_dir, session.step)
    assembled = assemble_checkpoint(session, session.run_dir)
    if session.is_main:
        export(session)
        commit_checkpoint(assembled, final)
        prune_checkpoints(session.run_dir, session.cfg.train.keep_checkpoints)
    session.accelerator.wait_for_everyone()
    return final


def export(session: Session) -> None:
    """Write the EMA weights as the run's ``model.safetensors``, stamped with their step."""
    save_model(session.ema.module, session.run_dir, to_dict(session.cfg), {STEP_KEY: str(session.step)})


def assemble_checkpoint(session: Session, run_dir: Path) -> Path:
    """Write the state of the current step into a hidden folder of ``run_dir/checkpoints`` (every process joins)
    and return it; :func:`commit_checkpoint` makes it a checkpoint."""
    acc = session.accelerator
    final = checkpoint_dir(run_dir, session.step)
    tmp = final.parent / f".tmp-{final.name}"
    if acc.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    acc.wait_for_everyone()
    write_rng_state(tmp, acc.process_index)
    if acc.is_main_process:
        _write_main_files(session, tmp, latest_checkpoint(run_dir))
    acc.wait_for_everyone()
    return tmp


def commit_checkpoint(assembled: Path, final: Path) -> None:
    """Rename an assembled checkpoint into place. A checkpoint of the same step that is already there is kept:
    it holds the same state (training is deterministic), and replacing a folder cannot be one rename."""
    if final.exists():
        discard_dir(assembled)
    else:
        assembled.rename(final)


def _write_main_files(session: Session, folder: Path, previous: Path | None) -> None:
    state = session.model.state_dict()
    fixed = {k.removeprefix("module.") for k in session.ema.shared}  # the parameters that do not train
    save_weights({k: v for k, v in state.items() if k not in fixed}, folder / "model.safetensors")
    if fixed:
        _write_frozen({k: state[k] for k in sorted(fixed)}, folder, previous)
    save_weights(session.ema.averaged_state(), folder / "ema.safetensors")  # frozen weights: in frozen.safetensors
    tensors, meta = flatten_optimizer_state(session.optimizer.state_dict())
    save_weights(tensors, folder / "optimizer.safetensors")
    scaler = session.accelerator.scaler
    meta = {**meta, "scaler": None if scaler is None else scaler.state_dict()}
    state = TrainingState(session.step, session.position, session.accelerator.num_processes,
                          session.seconds)
    write_state(folder, state, meta)


def _write_frozen(tensors: Mapping[str, torch.Tensor], folder: Path, previous: Path | None) -> None:
    """``frozen.safetensors``: a hard link to ``previous``'s when that holds the same tensor names, shapes and
    dtypes (weights that do not train keep their values for the whole run), else written."""
    source = None if previous is None else previous / FROZEN_FILE
    if source is not None and source.is_file() and _layout(source) == {
            k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in tensors.items()}:
        try:
            os.link(source, folder / FROZEN_FILE)
            return
        except OSError:  # no hard links on this file system
            pass
    save_weights(tensors, folder / FROZEN_FILE)


def _layout(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    """Name -> (shape, dtype) of each tensor of a safetensors file, from its header; empty when unreadable."""
    dtypes = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
              "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}
    try:
        with safe_open(str(path), framework="pt") as handle:
            slices = {k: handle.get_slice(k) for k in handle.keys()}
            return {k: (tuple(part.get_shape()), dtypes.get(part.get_dtype(), "?")) for k, part in slices.items()}
    except Exception:  # noqa: BLE001  (a damaged file is written again, not linked)
        return {}


def restore(session: Session, folder: Path) -> None:
    """Load model, EMA, optimizer (and fp16 scaler), step, data position and this process's RNG states."""
    state, meta = read_state(folder)
    if state.num_processes != session.accelerator.num_processes:
        raise TrainingError(f"{folder}: written by {state.num_processes} process(es); resume with the same number "
                            f"(accelerate launch --num_processes {state.num_processes})")
    weights, source = read_tensors(folder / "model.safetensors"), folder / "model.safetensors"
    if (folder / FROZEN_FILE).is_file():  # checkpoints of older versions hold every weight in model.safetensors
        weights.update(read_tensors(folder / FROZEN_FILE))
        source = f"{source} with {FROZEN_FILE}"
    _load_strict(session.model, weights, source)
    _load_strict(session.ema, read_tensors(folder / "ema.safetensors"), folder / "ema.safetensors",
                 session.ema.load_averaged_state)
    optimizer_state = unflatten_optimizer_state(read_tensors(folder / "optimizer.safetensors"), meta)
    session.optimizer.load_state_dict(optimizer_state)
    if session.accelerator.scaler is not None and meta.get("scaler"):
        session.accelerator.scaler.load_state_dict(meta["scaler"])
    read_rng_state(folder, session.accelerator.process_index)
    session.step, session.position, session.seconds = state.step, state.position, state.seconds


def _load_strict(module, tensors, path: Path | str, load=None) -> None:
    """``load`` (default: ``module.load_state_dict``, strict) the tensors on the module's device; a mismatch is a
    TrainingError naming the file."""
    device = next(module.parameters()).device
    try:
        (load or module.load_state_dict)({k: v.to(device) for k, v in tensors.items()})
    except RuntimeError as err:
        raise TrainingError(f"{path}: does not match the run's model ({str(err).splitlines()[0]})") from None
