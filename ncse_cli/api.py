"""The Python API behind the ``ncse`` commands: one call per command.

=====================  =============================================================================
``ncse prepare NAME``  :func:`prepare`
``ncse train``         :func:`train`
``ncse enhance``       :func:`enhance`
``ncse evaluate``      :func:`evaluate`
``ncse report``        :func:`report`
``ncse models ...``    :func:`list_models`, :func:`show_model`
``ncse demo``          :func:`demo`
``ncse experiment``    :func:`experiment_run`, :func:`experiment_status`
=====================  =============================================================================

Every function takes the workspace as ``workdir`` (a path; ``None``: ``$NCSE_HOME`` or ``./ncse-runs``) and, for
long work, an optional ``progress`` (:class:`ncse_cli.progress.Progress`: ``progress(description)`` opens a
task, the library reports ``task(done, total)``; the CLI draws one rich bar per task).

Importing this module is cheap (``ncse --help`` imports it): each function imports the part of the library it
needs when it is called, and :func:`defaults` / :func:`choices` let ``--help`` show values that are written once,
in the library.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ncse_cli.errors import NcseError
from ncse_cli.inference.settings import EnhanceSettings
from ncse_cli.progress import Progress

if TYPE_CHECKING:
    from ncse_cli.catalog import ModelDetails, ModelInfo
    from ncse_cli.data.prepare import PrepareResult
    from ncse_cli.demo import DemoResult
    from ncse_cli.evaluation import ScoreSummary
    from ncse_cli.experiments.plan import Plan
    from ncse_cli.experiments.runner import RunResult
    from ncse_cli.experiments.status import StatusRow, WorkRow
    from ncse_cli.inference.enhancer import EnhanceReport
    from ncse_cli.report import Report
    from ncse_cli.training import RunSummary

PathLike = str | os.PathLike

__all__ = ["EnhanceSettings", "ExperimentOutcome", "NcseError", "TrainOutcome", "choices", "defaults", "demo", "enhance",
           "evaluate", "experiment_run", "experiment_status", "list_models", "prepare", "report", "show_model",
           "summary_rows", "train"]


def prepare(recipe: str, out_dir: PathLike, *, jobs: int = 1, overwrite: bool = False,
            progress: Progress | None = None, **options: Any) -> PrepareResult:
    """``ncse prepare RECIPE``: write its manifests (and audio) into ``out_dir``.

    ``options`` are the keyword arguments of ``ncse_cli.data.prepare.prepare_<recipe>`` (the demo also takes
    the fields of :class:`~ncse_cli.data.prepare.DemoConfig`); those left out keep their defaults.
    """
    from ncse_cli.data.prepare import prepare_recipe

    return prepare_recipe(recipe, out_dir, jobs=jobs, overwrite=overwrite, progress=progress, **options)


@dataclass
class TrainOutcome:
    """What ``ncse train`` did: the resolved config (YAML, a valid recipe) and, unless a dry run, the summary of
    the run (``None`` on the processes of a data-parallel run other than the main one)."""

    config_yaml: str
    summary: RunSummary | None = None


def train(name: str | None, *, recipe: PathLike | None = None, data: PathLike | None = None,
          overrides: Mapping[str, Any] | None = None, clap_ckpt: PathLike | None = None,
          panns_ckpt: PathLike | None = None, freeze_encoder: bool | None = None, encoder_lr: float | None = None,
          download_weights: bool = False, resume: bool = False, overwrite: bool = False, dry_run: bool = False,
          workdir: PathLike | None = None, progress: Progress | None = None) -> TrainOutcome:
    """``ncse train``: train (or with ``resume`` continue) the model ``name``; ``dry_run`` only resolves the config.

    Settings resolve as built-in defaults < ``recipe`` < ``overrides`` (dotted keys such as ``"train.lr"``;
    ``None`` values are ignored) < ``data`` (a manifest, a prepared folder or a data YAML) < the encoder options.
    ``download_weights`` lets a pre-trained encoder download its official checkpoint when it is not at hand.
    """
    from ncse_cli.config import dotted
    from ncse_cli.training import config_yaml, is_main_process, run_config_for, summarize_run
    from ncse_cli.training import train as train_run
    from ncse_cli.training.config import EncoderOptions

    options = EncoderOptions.from_flags(clap_ckpt, panns_ckpt, freeze_encoder, encoder_lr)
    cfg = run_config_for(workdir, name, resume=resume, recipe=recipe, data=data, overrides=dotted(overrides or {}),
                         encoder_options=options)
    outcome = TrainOutcome(config_yaml(cfg))
    if not dry_run:
        run_dir = train_run(cfg, workdir, name, resume=resume, overwrite=overwrite, progress=progress,
                            download_weights=download_weights)
        outcome.summary = summarize_run(run_dir) if is_main_process() else None
    return outcome


def enhance(model: str, source: PathLike, out_dir: PathLike, *, noise_ref: PathLike = "auto",
            settings: EnhanceSettings = EnhanceSettings(), workdir: PathLike | None = None,
            progress: Progress | None = None) -> EnhanceReport:
    """``ncse enhance``: a file, a folder or a manifest's noisy files into ``out_dir`` (existing outputs are
    kept) with the model ``model`` (a workspace name or a model directory). ``noise_ref``: ``auto`` (inputs
    without a reference of their own get one cut from their pauses), ``none`` (those are enhanced
    unconditionally) or a file replacing every reference. See :func:`ncse_cli.inference.enhance_files`."""
    from ncse_cli.inference.enhancer import enhance_files
    from ncse_cli.workspace import Workspace

    return enhance_files(Workspace(workdir), model, source, out_dir, noise_ref=noise_ref, settings=settings,
                         progress=progress)


def evaluate(model: str, testsets: Sequence[PathLike], *, ws: Sequence[float] = (1.0,),
             references: Sequence[str] = ("matched",), seeds: Sequence[int] | None = None,
             settings: EnhanceSettings = EnhanceSettings(), jobs: int = 1, overwrite: bool = False,
             dnsmos: bool = True, workdir: PathLike | None = None,
             progress: Progress | None = None) -> list[ScoreSummary]:
    """``ncse evaluate``: the model on test manifests at the guidance scales ``ws``, with the reference conditions
    ``references`` (``matched``, ``null``, ``same-type``, ``mismatched``, ``white``, ``oracle``, ``auto``, with
    an optional length such as ``matched-0.5s``) and the sampler seeds ``seeds`` (``None``: ``settings.seed``),
    scored in ``jobs`` processes with PESQ, ESTOI, SI-SDR and (``dnsmos``) DNSMOS; rows without a clean file are
    scored with DNSMOS alone. Returns the noisy input's summary, then one per point, per test set."""
    from ncse_cli.evaluation import EvaluateOptions
    from ncse_cli.evaluation import evaluate as evaluate_model
    from ncse_cli.evaluation.conditions import ReferenceCondition
    from ncse_cli.workspace import Workspace

    conditions = tuple(ReferenceCondition.parse(text) for text in references)
    options = EvaluateOptions(tuple(float(w) for w in ws), settings, jobs, overwrite, conditions,
                              None if seeds is None else tuple(int(s) for s in seeds), dnsmos)
    return evaluate_model(Workspace(workdir), model, list(testsets), options, progress)


def summary_rows(summaries: Sequence[ScoreSummary]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of a summary table (test set, model, w, each metric as mean ± 95% CI, n)."""
    from ncse_cli.report.tables import summary_rows as rows

    return rows(summaries)


def report(*, out: PathLike | None = None, summary_metrics: Sequence[str] = ("pesq",), ci: bool = True,
           workdir: PathLike | None = None) -> Report:
    """``ncse report``: the markdown report of the workspace; with ``out``, written there atomically with its
    figures beside it and the same report as one HTML page (``out`` with ``.html``)."""
    from ncse_cli.files import atomic_write_text
    from ncse_cli.metrics import DEFAULT_METRICS, METRICS
    from ncse_cli.report import build_report, check_report_path
    from ncse_cli.report.html import write_html
    from ncse_cli.workspace import Workspace

    for name in summary_metrics:
        METRICS.get(name)  # an unknown name raises with the list of known ones
    if out is not None:
        check_report_path(Path(out))
    result = build_report(Workspace(workdir), DEFAULT_METRICS, summary_metrics, ci,
                          figures=None if out is None else Path(out).parent)
    if out is not None:
        atomic_write_text(Path(out), result.markdown)
        write_html(Path(out))
    return result


def list_models(*, workdir: PathLike | None = None) -> list[ModelInfo]:
    """``ncse models list``: every model in the workspace."""
    from ncse_cli.catalog import list_models as listing
    from ncse_cli.workspace import Workspace

    return listing(Workspace(workdir))


def show_model(model: str, *, workdir: PathLike | None = None) -> ModelDetails:
    """``ncse models show``: a model's summary, saved config and evaluations."""
    from ncse_cli.catalog import show_model as details
    from ncse_cli.workspace import Workspace

    return details(Workspace(workdir), model)


@dataclass
class ImportOutcome:
    """What ``ncse models import-sgmse`` wrote."""

    name: str
    directory: Path
    weights: str  #: "ema" or "state_dict"
    source: dict


def import_sgmse(checkpoint: PathLike, name: str, *, use_ema: bool = True, overwrite: bool = False,
                 workdir: PathLike | None = None) -> ImportOutcome:
    """Import a public SGMSE+ Lightning checkpoint as the workspace model ``name`` (see
    :mod:`ncse_cli.interop.sgmse`); an existing model of that name is kept unless ``overwrite``."""
    from ncse_cli.interop.sgmse import write_model_directory
    from ncse_cli.workspace import Workspace

    directory = Workspace(workdir).model_dir(name)
    record = write_model_directory(checkpoint, directory, use_ema=use_ema, overwrite=overwrite)
    return ImportOutcome(name, directory, record["weights"], record)


def demo(out_dir: PathLike = "ncse-demo", *, progress: Progress | None = None, **options: Any) -> DemoResult:
    """``ncse demo``: prepare the synthetic corpus, train a conditioned and an unconditioned tiny model, evaluate,
    report. ``options`` are fields of :class:`ncse_cli.demo.DemoOptions` (seed, train_steps, ...)."""
    from ncse_cli.demo import DemoOptions, run_demo

    return run_demo(out_dir, DemoOptions(**options), progress)


@dataclass
class ExperimentOutcome:
    """What ``ncse experiment run`` / ``status`` found: the plan (units and their state) read from disk, a row per
    experiment ID, the work still to do with its estimate, and, after a run, what it did (``None`` for a dry run
    or a status)."""

    plan: Plan
    rows: list[StatusRow]
    work: list[WorkRow]
    estimate: str  #: the work's counts and estimated time at the number of jobs asked
    run: RunResult | None = None


def experiment_run(file: PathLike, *, scale: str = "full", out: PathLike = "ncse-plan",
                   machine: PathLike | None = None, corpus: Sequence[str] = (), weights: Sequence[str] = (),
                   train_steps: int | None = None, sampler_steps: int | None = None, jobs: int = 1,
                   dry_run: bool = False, progress: Progress | None = None) -> ExperimentOutcome:
    """``ncse experiment run FILE``: prepare what is missing, train, evaluate and report the experiment file at
    ``scale`` under ``out/<scale>/`` (data, runs, reports/<group>), skipping finished work; ``dry_run`` only builds
    the plan of work. ``machine`` is the machine file (where corpora and tower checkpoints are), ``corpus`` and
    ``weights`` add ``NAME=PATH`` pairs to it; ``train_steps`` / ``sampler_steps`` replace the scale's."""
    from ncse_cli.experiments.runner import open_plan, run_experiment

    plan = open_plan(file, scale, out, machine, corpus, weights, train_steps, sampler_steps)
    if dry_run:
        return _outcome(plan, jobs)
    result = run_experiment(plan.spec, scale, plan.layout, plan.machine, jobs, progress)
    return _outcome(result.after, jobs, result)


def experiment_status(file: PathLike, *, scale: str = "full", out: PathLike = "ncse-plan",
                      machine: PathLike | None = None, corpus: Sequence[str] = (), weights: Sequence[str] = (),
                      train_steps: int | None = None, sampler_steps: int | None = None) -> ExperimentOutcome:
    """``ncse experiment status FILE``: a row per experiment ID (trained steps, evaluated points, missing work)."""
    from ncse_cli.experiments.runner import open_plan

    return _outcome(open_plan(file, scale, out, machine, corpus, weights, train_steps, sampler_steps), 1)


def _outcome(plan: Plan, jobs: int, run: RunResult | None = None) -> ExperimentOutcome:
    from ncse_cli.experiments.status import status_rows, work_caption, work_rows

    return ExperimentOutcome(plan, status_rows(plan), work_rows(plan), work_caption(plan, jobs), run)


def defaults(command: str) -> dict[str, Any]:
    """The library's default of every option of ``command`` (``"prepare ood"``, ``"enhance"``, ...), by the
    name of the keyword argument or field that takes it: what ``--help`` shows."""
    sources: list[Any] = {"enhance": [EnhanceSettings, enhance], "evaluate": [EnhanceSettings, evaluate],
                          "report": [report], "demo": [demo], "train": [],
                          "experiment run": [experiment_run], "experiment status": [experiment_status]}.get(command, [])
    if command == "demo":
        from ncse_cli.demo import DemoOptions

        sources.append(DemoOptions)
    elif command.startswith("prepare "):
        from ncse_cli.data.prepare import recipe_parameters

        sources = recipe_parameters(command.split(" ", 1)[1])
    found: dict[str, Any] = {}
    for source in sources:
        found.update(_defaults_of(source))
    return found


def _defaults_of(source: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(source):
        return {f.name: f.default for f in dataclasses.fields(source) if f.default is not dataclasses.MISSING}
    return {name: p.default for name, p in inspect.signature(source).parameters.items()
            if p.default is not inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_KEYWORD}


def choices(kind: str) -> list[str]:
    """The names an option takes: registered components (``encoder``, ``backbone``, ``metric``,
    ``nonstationary``) or the values of ``snr_method`` and ``ref_source``."""
    if kind == "encoder":
        from ncse_cli.encoders import ENCODERS as registry
    elif kind == "backbone":
        from ncse_cli.backbones import BACKBONES as registry
    elif kind == "metric":
        from ncse_cli.metrics import METRICS as registry
    elif kind == "nonstationary":
        from ncse_cli.data.nonstationary import NONSTATIONARY_KINDS as registry
    elif kind == "snr_method":
        from ncse_cli.data.mixing import SNR_METHODS

        return list(SNR_METHODS)
    elif kind == "ref_source":
        from ncse_cli.data.prepare.auto_refs import AUTO
        from ncse_cli.data.prepare.vbdemand import REF_SOURCES

        return [*REF_SOURCES, AUTO]
    else:
        raise KeyError(f"no choices for {kind!r}")
    return registry.names()
