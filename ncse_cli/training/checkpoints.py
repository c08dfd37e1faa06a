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
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ncse_cli.model_dir import save_model, save_weights
from ncse_cli.config import to_dict
from ncse_cli.training.session import Session, TrainingError
from ncse_cli.training.state import (STEP_KEY, TrainingState, checkpoint_dir, discard_dir, flatten_optimizer_state,
                                     prune_checkpoints, read_rng_state, read_state, read_tensors,
                                     unflatten_optimizer_state, write_rng_state, write_state)


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
        _write_main_files(session, tmp)
    acc.wait_for_everyone()
    return tmp


def commit_checkpoint(assembled: Path, final: Path) -> None:
    """Rename an assembled checkpoint into place. A checkpoint of the same step that is already there is kept:
    it holds the same state (training is deterministic), and replacing a folder cannot be one rename."""
    if final.exists():
        discard_dir(assembled)
    else:
        assembled.rename(final)


def _write_main_files(session: Session, folder: Path) -> None:
    save_weights(session.model.state_dict(), folder / "model.safetensors")
    save_weights(session.ema.averaged_state(), folder / "ema.safetensors")  # frozen weights: in the model's
    tensors, meta = flatten_optimizer_state(session.optimizer.state_dict())
    save_weights(tensors, folder / "optimizer.safetensors")
    scaler = session.accelerator.scaler
    meta = {**meta, "scaler": None if scaler is None else scaler.state_dict()}
    state = TrainingState(session.step, session.position, session.accelerator.num_processes,
                          session.seconds)
    write_state(folder, state, meta)


def restore(session: Session, folder: Path) -> None:
    """Load model, EMA, optimizer (and fp16 scaler), step, data position and this process's RNG states."""
    state, meta = read_state(folder)
    if state.num_processes != session.accelerator.num_processes:
        raise TrainingError(f"{folder}: written by {state.num_processes} process(es); resume with the same number "
                            f"(accelerate launch --num_processes {state.num_processes})")
    _load_strict(session.model, read_tensors(folder / "model.safetensors"), folder / "model.safetensors")
    _load_strict(session.ema, read_tensors(folder / "ema.safetensors"), folder / "ema.safetensors",
                 session.ema.load_averaged_state)
    optimizer_state = unflatten_optimizer_state(read_tensors(folder / "optimizer.safetensors"), meta)
    session.optimizer.load_state_dict(optimizer_state)
    if session.accelerator.scaler is not None and meta.get("scaler"):
        session.accelerator.scaler.load_state_dict(meta["scaler"])
    read_rng_state(folder, session.accelerator.process_index)
    session.step, session.position, session.seconds = state.step, state.position, state.seconds


def _load_strict(module, tensors, path: Path, load=None) -> None:
    """``load`` (default: ``module.load_state_dict``, strict) the tensors on the module's device; a mismatch is a
    TrainingError naming the file."""
    device = next(module.parameters()).device
    try:
        (load or module.load_state_dict)({k: v.to(device) for k, v in tensors.items()})
    except RuntimeError as err:
        raise TrainingError(f"{path}: does not match the run's model ({str(err).splitlines()[0]})") from None
