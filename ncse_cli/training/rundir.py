"""A run's directory in the workspace: which names may be trained into, and what a new run writes first."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Mapping

from ncse_cli.model_dir import CONFIG_FILE
from ncse_cli.config import ConfigError, save_yaml, to_dict
from ncse_cli.data.config import data_config_from_path
from ncse_cli.training.config import (EncoderOptions, RunConfig, flat_config, load_run_config, resolve_run_config,
                                      resume_conflicts)
from ncse_cli.training.session import TrainingError
from ncse_cli.training.state import latest_checkpoint
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
    if latest_checkpoint(run_dir) is None:
        raise TrainingError(f"cannot resume {name!r}: no checkpoint in {run_dir}")
    conflicts = resume_conflicts(saved_config(run_dir), cfg)
    if conflicts:
        old, new = flat_config(to_dict(saved_config(run_dir))), flat_config(to_dict(cfg))
        shown = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in conflicts[:3])
        more = f" (+{len(conflicts) - 3} more)" if len(conflicts) > 3 else ""
        raise TrainingError(f"cannot resume {name!r} with a different config ({shown}{more}); only train.steps "
                            f"and logging/validation/checkpoint intervals may change")


def start_run_dir(run_dir: Path, cfg: RunConfig, overwrite: bool) -> None:
    """Create a new run's directory (replacing an old one with ``overwrite``) and save its resolved config."""
    if overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    save_yaml(to_dict(cfg), run_dir / CONFIG_FILE)


def tracker_config(cfg: RunConfig, name: str) -> dict[str, Any]:
    """The config as flat scalars (``model.backbone.nf``: 16) for TensorBoard hparams and W&B."""
    return {"name": name, **{k: (v if isinstance(v, (int, float, str, bool)) else str(v))
                             for k, v in flat_config(to_dict(cfg)).items()}}

