"""``ncse demo``: the whole pipeline on the built-in synthetic corpus, offline, in minutes on a CPU.

The demo is a small experiment (:func:`demo_experiment`) run by the experiment runner
(:func:`ncse_cli.experiments.runner.run_experiment`), the orchestrator of ``ncse experiment run``:

1. the synthetic corpus is prepared (``prepare_demo``: synthetic talkers mixed with synthetic noises; train, valid,
   test manifests);
2. two tiny NCSN++ models train on it in the few-step Schrodinger-bridge formulation (Jukic et al., Interspeech
   2024; SB-VE bridge, data-prediction loss): the noise-conditioned one (the reference's noise profile as a map
   into the network, classifier-free-guidance dropout p_uncond 0.2, the plan's best setting) and the
   unconditioned baseline (encoder none). Both start from the same backbone weights (one seed), so they differ
   only in the conditioning;
3. both are evaluated on the test set (the conditioned one at each guidance scale, w = 1 by default) with PESQ,
   ESTOI and SI-SDR, each
   enhanced with the bridge's ODE sampler at 5 network evaluations;
4. the workspace report is built from the stored results and written to ``<out>/report.md`` (with its figures
   and ``report.html``), and the experiment's own report, with the embedding diagnosis, per-noise-type bars and
   spectrograms, to ``<out>/experiment/report.md``.

With ``jobs`` >= 2 the runner trains the two models, then evaluates, side by side in single-threaded worker
processes. Everything lives under ``<out>`` (data in ``<out>/data``, the workspace in ``<out>/runs``), never in the
user's own workspace, and a re-run reuses what is finished: the corpus, trained models, evaluations. The models
are named as in every experiment, ``<model>-s<seed>`` (``demo-profile-cfg-s0``), so demos of different seeds
coexist.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ncse_cli.config import to_dict
from ncse_cli.data.config import data_config_from_path
from ncse_cli.data.prepare import DemoConfig
from ncse_cli.errors import NcseError
from ncse_cli.evaluation import ScoreSummary
from ncse_cli.evaluation.results import NOISY_SUMMARY_FILE, read_summary
from ncse_cli.evaluation.testsets import load_testset
from ncse_cli.experiments.machine import Machine
from ncse_cli.experiments.plan import DONE, REPORT, REPORT_FILE, Layout, Plan
from ncse_cli.experiments.results import Results
from ncse_cli.experiments.runner import run_experiment
from ncse_cli.experiments.spec import DataSource, Entry, ExperimentFile, ModelEntry, Scale, Suite, check_experiment
from ncse_cli.files import atomic_write_text
from ncse_cli.progress import Progress
from ncse_cli.report import Report, build_report
from ncse_cli.report.html import write_html
from ncse_cli.training import RunConfig, RunSummary, read_train_log, resolve_run_config, summarize_run
from ncse_cli.workspace import Workspace

CONDITIONED = "demo-profile-cfg"
BASELINE = "demo-uncond"

#: ``recipes/tiny.yaml`` in the Schrodinger-bridge formulation of ``recipes/sb_cfg_p0.2.yaml``: a tiny NCSN++
#: (about 1.4 M parameters), 64-frame crops. The bridge predicts the clean spectrogram at every step, so it
#: learns from a few hundred steps what the OUVE score model does not (README, "The demo").
#: The conditioned model reads the reference as its noise profile (``encoders/profile.py``): the demo's noises
#: differ in spectrum from one recording to the next, and at 250 steps the profile map is what a tiny network
#: learns to use (README, "The demo", for the CNN encoder on the same task).
DEMO_MODEL: dict[str, Any] = {"backbone": "tiny", "sde": "sbve", "loss": "data_prediction", "encoder": "profile",
                              "conditioning": {"injection": "profile"}}
DEMO_TRAIN: dict[str, Any] = {"batch_size": 4, "crop_frames": 64, "lr": 1e-3, "num_workers": 0, "log_every": 10,
                              "val_items": 8, "val_utterances": 2, "val_steps": 5, "keep_checkpoints": 1}
#: The bridge's probability-flow ODE sampler (``sampling/bridge.py``).
DEMO_SAMPLER = "sb-ode"
#: The demo's data folder (``<out>/data``) and its test suite, as the experiment names them.
DATA, SUITE = "data", "test"


class DemoError(NcseError):
    """A demo that cannot finish in its folder (a model trained there with other settings)."""


@dataclass(frozen=True)
class DemoOptions:
    """Sizes of the demo (the defaults fit in five minutes on two CPU cores)."""

    seed: int = 0
    train_steps: int = 250
    sampler_steps: int = 5
    #: guidance scales of the conditioned model (w = 3 measured worse than w = 1 at this size; README, "The demo")
    ws: tuple[float, ...] = (1.0,)
    jobs: int = 2  #: worker processes (data preparation, training, evaluation)
    corpus: DemoConfig | None = None  #: sizes of the synthetic corpus (default: ``DemoConfig()``)
    #: score DNSMOS too (off: it would take the demo past five minutes; ``ncse evaluate`` scores it by default)
    dnsmos: bool = False


@dataclass
class DemoResult:
    """Where the demo wrote everything, its summaries, training runs and report, and how long each stage took."""

    out_dir: Path
    workspace: Workspace
    summaries: list[ScoreSummary]
    runs: dict[str, RunSummary]  #: by workspace name
    first_loss: dict[str, float]  #: the first logged training loss of each model (learning: compare the last)
    report: Report
    report_path: Path
    experiment_report: Path  #: the group report of the demo experiment (figures, embedding diagnosis)
    seconds: dict[str, float] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  #: workspace name of :data:`CONDITIONED` and :data:`BASELINE`


def demo_settings(options: DemoOptions, conditioned: bool) -> dict[str, Any]:
    """The recipe settings of one demo model: :data:`DEMO_MODEL` (encoder ``none`` for the baseline),
    :data:`DEMO_TRAIN` at ``options``' steps and seed, :data:`DEMO_SAMPLER` at its sampler steps."""
    model = ({**DEMO_MODEL} if conditioned
             else {**{k: v for k, v in DEMO_MODEL.items() if k != "conditioning"}, "encoder": "none"})
    train_cfg = {**DEMO_TRAIN, "steps": options.train_steps, "p_uncond": 0.2 if conditioned else 0.0,
                 "seed": options.seed, "val_every": options.train_steps, "save_every": options.train_steps}
    return {"model": model, "train": train_cfg, "sampler": {"name": DEMO_SAMPLER, "steps": options.sampler_steps}}


def _encoder_name() -> str:
    encoder = DEMO_MODEL["encoder"]
    return encoder if isinstance(encoder, str) else encoder["name"]


def demo_run_config(data_dir: Path, options: DemoOptions, conditioned: bool) -> RunConfig:
    """The training config of one demo model."""
    return resolve_run_config(overrides=demo_settings(options, conditioned), data=data_config_from_path(data_dir))


def demo_experiment(options: DemoOptions) -> ExperimentFile:
    """The demo as an experiment: both models on the demo corpus (``options.corpus``), the conditioned one at
    each of ``options.ws`` against the baseline, one training and sampler seed (``options.seed``)."""
    corpus = {k: v for k, v in to_dict(options.corpus or DemoConfig()).items() if k != "seed"}
    scale = Scale(data={DATA: DataSource("demo", {**corpus, "seed": options.seed})},
                  suites={SUITE: Suite("in-distribution", (f"{DATA}/test.jsonl",), "demo test set")},
                  training_seeds=(options.seed,), sampler_seeds=(options.seed,), dnsmos=options.dnsmos,
                  precision="fp32")  # at the demo's size bf16 is no faster on a CPU (measured: 28 s vs 25 s)
    models = {CONDITIONED: ModelEntry(settings=demo_settings(options, True), data=DATA,
                                      title=f"{_encoder_name()} encoder, p_uncond 0.2"),
              BASELINE: ModelEntry(settings=demo_settings(options, False), data=DATA, title="no conditioning")}
    experiments = {f"w{w:g}": Entry(CONDITIONED, (SUITE,), w, title=f"conditioned, w {w:g}") for w in options.ws}
    spec = ExperimentFile("demo", "ncse demo", models, experiments, {"demo": scale}, baseline=BASELINE,
                          question="Does conditioning on a noise reference help a tiny model on synthetic noise?")
    check_experiment(spec)
    return spec


def run_demo(out_dir: str | os.PathLike = "ncse-demo", options: DemoOptions = DemoOptions(),
             progress: Progress | None = None) -> DemoResult:
    """Run the demo experiment under ``out_dir``, then write the workspace report (see the module docstring)."""
    out_dir = Path(out_dir)
    layout = Layout(data=out_dir, runs=out_dir / "runs", reports=out_dir / "experiment")  # data in <out>/data
    run = run_experiment(demo_experiment(options), "demo", layout, Machine(), options.jobs, progress)
    unfinished = [u for u in run.after.units if u.kind != REPORT and u.state != DONE]
    if unfinished:
        raise DemoError(f"{unfinished[0].label}: {unfinished[0].note or 'not finished'}")
    workspace, start = Workspace(layout.runs), time.perf_counter()
    report = build_report(workspace, summary_metrics=("pesq", "estoi", "si_sdr"), figures=out_dir)
    report_path = out_dir / REPORT_FILE
    atomic_write_text(report_path, report.markdown)
    write_html(report_path)
    seconds = {**run.seconds, "report": run.seconds.get("report", 0.0) + time.perf_counter() - start}
    names = {model.key: name for name, model in run.after.runs.items()}
    runs = {name: summarize_run(workspace.model_dir(name)) for name in names.values()}
    first = {name: read_train_log(workspace.model_dir(name) / "train_log.csv")[0]["loss"] for name in runs}
    return DemoResult(out_dir, workspace, stored_summaries(run.after), runs, first, report, report_path,
                      layout.report, seconds, names)


def stored_summaries(plan: Plan) -> list[ScoreSummary]:
    """The test set's noisy-input summary, then each evaluation's, in plan order (conditioned model first)."""
    testset, _ = load_testset(plan.layout.data / plan.scale.suites[SUITE].manifests[0])
    noisy = read_summary(Workspace(plan.layout.runs).testset_dir(testset.id) / NOISY_SUMMARY_FILE)
    return [noisy, *(stored.summary for stored in Results(plan).stored)]
