"""The model catalogue behind ``ncse models list`` and ``ncse models show``: what each model in a workspace is,
how far it trained, and where it has been evaluated. Everything is read from the files in its directory."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open

from ncse_cli.config import component_name, load_yaml
from ncse_cli.errors import NcseError
from ncse_cli.evaluation.results import NOISY_SUMMARY_FILE, ScoreSummary, model_summaries, read_summary
from ncse_cli.model_dir import CONFIG_FILE, WEIGHTS_FILE, ModelDirError, load_model_config
from ncse_cli.training.config import flat_config
from ncse_cli.training.metrics_log import summarize_run
from ncse_cli.training.state import exported_step, list_checkpoints
from ncse_cli.workspace import Workspace

log = logging.getLogger("ncse")


@dataclass
class ModelInfo:
    """One row of ``ncse models list``."""

    name: str
    directory: Path
    encoder: str
    backbone: str
    injection: str
    sample_rate: int
    parameters: int  #: elements of every tensor in model.safetensors (parameters and buffers)
    steps: int | None  #: optimizer steps of the exported weights (``None``: not trained by ``ncse train``)
    p_uncond: float | None  #: CFG condition dropout it was trained with
    evaluations: list[ScoreSummary] = field(default_factory=list)

    @property
    def conditional(self) -> bool:
        return self.encoder != "none"

    @property
    def testsets(self) -> list[str]:
        """Names of the test sets it was evaluated on, in order."""
        return list(dict.fromkeys(s.testset.name for s in self.evaluations))


def count_weights(path: Path) -> int:
    """Total number of elements stored in a safetensors file (reads the header only)."""
    try:
        with safe_open(str(path), "pt") as handle:
            return sum(math.prod(handle.get_slice(key).get_shape()) for key in handle.keys())
    except (SafetensorError, OSError) as err:
        raise ModelDirError(f"{path}: not a readable safetensors file ({err})") from None


def trained_steps(directory: Path) -> int | None:
    """Steps of the exported weights, else of the newest training checkpoint, else of the training log, else
    ``None``."""
    step = exported_step(directory)
    if step is not None:
        return step
    checkpoints = list_checkpoints(directory)
    if checkpoints:
        return checkpoints[-1][0]
    steps = summarize_run(directory).steps
    return steps or None


def model_info(directory: Path) -> ModelInfo:
    """Describe a model directory from its config, weights header, training files and evaluations."""
    directory = Path(directory)
    cfg = load_model_config(directory)
    train = load_yaml(directory / CONFIG_FILE).get("train")  # absent in models saved outside `ncse train`
    p_uncond = train.get("p_uncond") if isinstance(train, dict) else None
    return ModelInfo(directory.name, directory, component_name(cfg.encoder), component_name(cfg.backbone),
                     cfg.conditioning.injection, cfg.sample_rate, count_weights(directory / WEIGHTS_FILE),
                     trained_steps(directory), p_uncond, model_summaries(directory))


def list_models(workspace: Workspace) -> list[ModelInfo]:
    """Every readable model of the workspace, by name; a broken one is skipped with a warning naming its problem."""
    found = []
    for name in workspace.models():
        try:
            found.append(model_info(workspace.model_dir(name)))
        except NcseError as err:
            log.warning("skipped model %s: %s", name, err)
    return found


@dataclass
class ModelDetails:
    """What ``ncse models show`` prints: the summary row, the saved config and the noisy baselines."""

    info: ModelInfo
    config: dict[str, Any]
    noisy: dict[str, ScoreSummary]  #: noisy-input summary per evaluated test set id

    def sections(self) -> dict[str, str]:
        """The saved ``data``, ``train`` and ``sampler`` sections as one line each (``key=value, ...``)."""
        return {section: ", ".join(f"{k}={v}" for k, v in flat_config(self.config[section]).items())
                for section in ("data", "train", "sampler") if isinstance(self.config.get(section), dict)}

    def evaluations(self) -> list[ScoreSummary]:
        """Every evaluation, each test set's noisy input first."""
        rows: list[ScoreSummary] = []
        for s in self.info.evaluations:
            if s.testset.id in self.noisy and (not rows or rows[-1].testset.id != s.testset.id):
                rows.append(self.noisy[s.testset.id])
            rows.append(s)
        return rows


def show_model(workspace: Workspace, model: str) -> ModelDetails:
    """Details of a registered model (or a model directory)."""
    info = model_info(workspace.resolve(model))
    noisy = {}
    for summary in info.evaluations:
        found = read_summary(workspace.testset_dir(summary.testset.id) / NOISY_SUMMARY_FILE)
        if found is not None:
            noisy[summary.testset.id] = found
    return ModelDetails(info, load_yaml(info.directory / CONFIG_FILE), noisy)
