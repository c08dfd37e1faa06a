"""A run's directory in the workspace: which names may be trained into, and what a new run writes first."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Mapping

from filelock import FileLock, Timeout

from ncse_cli.model_dir import CONFIG_FILE, WEIGHTS_FILE
from ncse_cli.config import ConfigError, save_yaml, to_dict
from ncse_cli.data.config import data_config_from_path
from ncse_cli.training.checkpoints import assemble_checkpoint, commit_checkpoint
from ncse_cli.training.config import (EncoderOptions, RunConfig, flat_config, load_run_config, resolve_run_config,
                                      resume_conflicts)
from ncse_cli.training.session import Session, TrainingError
from ncse_cli.training.state import checkpoint_dir, discard_dir, latest_checkpoint
from ncse_cli.workspace import Workspace


def run_dir_for(workspace: Workspace | str | os.PathLike | None, name: str | None) -> Path:
    """The model directory of ``name`` (the name is validated)."""
    if not name:
        raise TrainingError("name the model to train: --name NAME")
    ws = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
    return ws.model_dir(name)


def run_config_for(workspace: Workspace | str | os.PathLike | None, name: str | None, *, resume: bool = False,
                   recipe: str | os.PathLike | None = None, data: str | os.PathLike | None = None,
                   overrides: Mapping[str, Any] | None = None,
                   encoder_options: EncoderOptions | None = None) -> RunConfig:
    """The config a ``train`` call will use: the run's saved config when resuming, else the built-in defaults;
    then the recipe, the flag ``overrides``, ``data`` (a ``--data`` path) and the encoder options."""
    base = None
    if name:  # a name that cannot be a model directory is refused by a dry run too
        run_dir_for(workspace, name)
    if resume:
        base = to_dict(saved_config(run_dir_for(workspace, name)))
    data_cfg = data_config_from_path(data) if data is not None else None
    return resolve_run_config(recipe, overrides, data=data_cfg, encoder_options=encoder_options, base=base)


def saved_config(run_dir: Path) -> RunConfig:
    """The resolved config a run saved when it started."""
    if not (run_dir / CONFIG_FILE).is_file():
        raise TrainingError(f"cannot resume {run_dir.name!r}: no run at {run_dir}")
    try:
        return load_run_config(run_dir / CONFIG_FILE, saved=True)
    except ConfigError as err:
        raise TrainingError(f"cannot resume: {err}") from None


def check_run_dir(run_dir: Path, cfg: RunConfig, *, resume: bool, overwrite: bool) -> None:
    """Refuse to train into an existing run without ``resume``/``overwrite``, or to resume what cannot be."""
    name = run_dir.name
    if resume and overwrite:
        raise TrainingError("--resume and --overwrite exclude each other")
    if not resume:
        if run_dir.exists() and not overwrite:
            raise TrainingError(f"model {name!r} already exists in {run_dir.parent.parent}; pass --resume to "
                                f"continue it, --overwrite to replace it, or choose another --name")
        return
    saved = saved_config(run_dir)
    if latest_checkpoint(run_dir) is None:
        # a run started by an older ncse and killed before its first checkpoint, or a model saved outside training
        killed = not (run_dir / WEIGHTS_FILE).exists()
        hint = "; it was interrupted before its first: --overwrite restarts it" if killed else ""
        raise TrainingError(f"cannot resume {name!r}: no checkpoint in {run_dir}{hint}")
    conflicts = resume_conflicts(saved, cfg)
    if conflicts:
        old, new = flat_config(to_dict(saved)), flat_config(to_dict(cfg))
        shown = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in conflicts[:3])
        more = f" (+{len(conflicts) - 3} more)" if len(conflicts) > 3 else ""
        raise TrainingError(f"cannot resume {name!r} with a different config ({shown}{more}); only train.steps "
                            f"and logging/validation/checkpoint intervals may change")


def start_run(session: Session, overwrite: bool) -> None:
    """Create a new run's directory (replacing an old one with ``overwrite``) with one rename: its resolved config
    and the checkpoint of step 0 are assembled in a hidden sibling first, so the directory never exists without
    a checkpoint that ``--resume`` can continue from (every process joins)."""
    run_dir, acc = session.run_dir, session.accelerator
    staging = run_dir.with_name(f".new-{run_dir.name}")
    try:
        if acc.is_main_process:
            shutil.rmtree(staging, ignore_errors=True)  # the leftover of a start that was killed
            staging.mkdir(parents=True)
            save_yaml(to_dict(session.cfg), staging / CONFIG_FILE)
        acc.wait_for_everyone()
        assembled = assemble_checkpoint(session, staging)
        if acc.is_main_process:
            commit_checkpoint(assembled, checkpoint_dir(staging, session.step))
            if overwrite and run_dir.exists():
                discard_dir(run_dir)
            staging.rename(run_dir)
    except BaseException:
        if acc.is_main_process:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    acc.wait_for_everyone()


@contextlib.contextmanager
def training_lock(run_dir: Path, enabled: bool = True) -> Iterator[None]:
    """Hold ``models/.<name>.lock`` while training ``name`` (``fcntl.flock``: released when the process dies),
    so that a second process cannot train, resume or replace the same model at the same time."""
    if not enabled:
        yield
        return
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(run_dir.with_name(f".{run_dir.name}.lock")))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise TrainingError(f"model {run_dir.name!r} is being trained by another process right now") from None
    try:
        yield
    finally:
        lock.release()


def tracker_config(cfg: RunConfig, name: str) -> dict[str, Any]:
    """The config as flat scalars (``model.backbone.nf``: 16) for TensorBoard hparams and W&B."""
    return {"name": name, **{k: (v if isinstance(v, (int, float, str, bool)) else str(v))
                             for k, v in flat_config(to_dict(cfg)).items()}}

