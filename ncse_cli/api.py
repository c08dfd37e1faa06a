"""The Python API behind the ``ncse`` commands: each command parses its flags and makes one call here.

Every function takes the workspace as ``workdir`` (a path; ``None``: ``$NCSE_HOME`` or ``./ncse-runs``) and,
for long work, an optional ``progress`` factory: ``progress(description)`` returns the ``(done, total)``
callback of one task (the CLI draws them as rich progress bars).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ncse_cli.catalog import ModelDetails, ModelInfo, show_model as _show_model, list_models as _list_models
from ncse_cli.model_dir import WEIGHTS_FILE, load_model
from ncse_cli.files import atomic_write_text
from ncse_cli.device import resolve_device
from ncse_cli.demo import DemoOptions, DemoResult, run_demo
from ncse_cli.evaluation import (EnhanceReport, EnhanceSettings, EvaluateOptions, ScoreSummary, enhance_files,
                                 model_sampler, resolve_inputs)
from ncse_cli.inference.enhancer import check_inputs, check_output_settings, pending_inputs
from ncse_cli.evaluation import evaluate as _evaluate
from ncse_cli.metrics import DEFAULT_METRICS
from ncse_cli.progress import Progress
from ncse_cli.report import Report, build_report, check_report_path
from ncse_cli.training import RunConfig, RunSummary, summarize_run
from ncse_cli.training import train as _train
from ncse_cli.workspace import Workspace, file_sha256

log = logging.getLogger("ncse")

PathLike = str | os.PathLike


def train(cfg: RunConfig, name: str, *, workdir: PathLike | None = None, resume: bool = False,
          overwrite: bool = False, progress: Progress | None = None) -> RunSummary:
    """Train (or with ``resume`` continue) the model ``name`` and summarise what it reached.

    ``cfg`` comes from :func:`ncse_cli.training.run_config_for` (defaults < recipe < overrides); see
    :func:`ncse_cli.training.train` for the run directory it fills.
    """
    return summarize_run(_train(cfg, workdir, name, resume=resume, overwrite=overwrite, progress=progress))


@dataclass
class EnhanceOutcome:
    """What ``ncse enhance`` did."""

    model: str
    kind: str  #: the input was a "file", "folder" or "manifest"
    out_dir: Path
    report: EnhanceReport


def enhance(model: str, source: PathLike, out_dir: PathLike, *, noise_ref: PathLike | None = None,
            cfg_scale: float = 1.0, steps: int | None = None, seed: int = 0, batch_size: int = 1,
            device: str = "auto", workdir: PathLike | None = None,
            progress: Progress | None = None) -> EnhanceOutcome:
    """Enhance a file, a folder or a manifest's noisy files into ``out_dir`` (existing outputs are kept) on
    ``device`` (``auto``: a GPU when there is one)."""
    target = resolve_device(device)
    directory = Workspace(workdir).resolve(model)
    inputs = resolve_inputs(source, out_dir, noise_ref)
    loaded = load_model(directory, target)
    check_inputs(*pending_inputs(inputs.jobs), loaded, progress("check inputs") if progress else None)
    _reference_notice(loaded.conditional, inputs.without_reference, len(inputs.jobs), noise_ref is not None)
    settings = EnhanceSettings(cfg_scale, model_sampler(directory, steps), seed, batch_size)
    check_output_settings(Path(out_dir), {"model_sha256": file_sha256(directory / WEIGHTS_FILE),
                                          **settings.to_dict(),
                                          "noise_ref": None if noise_ref is None else str(Path(noise_ref).resolve())})
    task = progress("enhance") if progress else None
    report = enhance_files(loaded, inputs.jobs, settings, task)
    return EnhanceOutcome(directory.name, inputs.kind, Path(out_dir), report)


def _reference_notice(conditional: bool, missing: int, total: int, given: bool) -> None:
    """One line saying how the noise reference is used (or why it is not)."""
    if not conditional:
        if given or missing < total:
            log.info("unconditioned model (encoder none): noise references ignored")
    elif missing == total:
        log.info("no noise reference given: enhancing unconditionally")
    elif missing:
        log.info("%d of %d inputs have no noise reference: enhanced unconditionally", missing, total)


def evaluate(model: str, testsets: Sequence[PathLike], *, cfg_scales: Sequence[float] = (1.0,),
             steps: int | None = None, seed: int = 0, jobs: int = 1, batch_size: int = 1, overwrite: bool = False,
             device: str = "auto", workdir: PathLike | None = None,
             progress: Progress | None = None) -> list[ScoreSummary]:
    """Evaluate a model on test manifests at guidance scales; returns the noisy and model summaries."""
    options = EvaluateOptions(tuple(float(w) for w in cfg_scales), steps, seed, jobs, batch_size, overwrite, device)
    return _evaluate(Workspace(workdir), model, list(testsets), options, progress)


def report(*, out: PathLike | None = None, metrics: Sequence[str] = DEFAULT_METRICS,
           summary_metrics: Sequence[str] = ("pesq",), ci: bool = True,
           workdir: PathLike | None = None) -> Report:
    """The markdown report of the workspace; written atomically to ``out`` when given."""
    if out is not None:
        check_report_path(Path(out))
    result = build_report(Workspace(workdir), metrics, summary_metrics, ci)
    if out is not None:
        atomic_write_text(Path(out), result.markdown)
    return result


def list_models(*, workdir: PathLike | None = None) -> list[ModelInfo]:
    """Every model in the workspace."""
    return _list_models(Workspace(workdir))


def show_model(model: str, *, workdir: PathLike | None = None) -> ModelDetails:
    """A model's summary, saved config and evaluations."""
    return _show_model(Workspace(workdir), model)


def demo(out_dir: PathLike = "ncse-demo", *, seed: int = 0, train_steps: int | None = None,
         sampler_steps: int | None = None, jobs: int = 2, progress: Progress | None = None) -> DemoResult:
    """Prepare the synthetic corpus, train a conditioned and an unconditioned tiny model, evaluate, report."""
    defaults = DemoOptions()
    options = DemoOptions(seed, train_steps or defaults.train_steps, sampler_steps or defaults.sampler_steps,
                          defaults.cfg_scales, jobs)
    return run_demo(out_dir, options, progress)
