"""``ncse train``: train a named model of the workspace (one process, or data-parallel under ``accelerate launch``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.syntax import Syntax
from rich.table import Table

from ncse_cli.cli._common import console, user_errors
from ncse_cli.cli._progress import task_bars

if TYPE_CHECKING:
    from ncse_cli.api import RunSummary

#: Options whose values are registered names, shown in ``--help`` from the registries.
CHOICES = {"encoder": "encoder", "backbone": "backbone"}


@user_errors
def train_command(
    name: Annotated[Optional[str], typer.Option("--name", "-n", help="Model name in the workspace "
                                                "(letters, digits, . _ + -).", show_default=False)] = None,
    data: Annotated[Optional[Path], typer.Option(help="Training data: a manifest [dim](X_train.jsonl; X_valid.jsonl "
                                                 "beside it validates)[/], a prepared folder, or a data YAML "
                                                 "(static or dynamic mixing).", show_default=False)] = None,
    recipe: Annotated[Optional[Path], typer.Option(help="Recipe YAML (see recipes/); flags override its values.",
                                                   show_default=False)] = None,
    encoder: Annotated[Optional[str], typer.Option(help="Noise encoder ([bold]none[/]: the unconditioned "
                                                        "baseline).", show_default=False)] = None,
    backbone: Annotated[Optional[str], typer.Option(help="NCSN++ size.", show_default=False)] = None,
    injection: Annotated[Optional[str], typer.Option(metavar="[add|film|profile]", help="How the condition enters "
                                                     "the backbone: added to the time embedding, FiLM per block, "
                                                     "or (encoder profile) a map over the spectrogram.",
                                                     show_default=False)] = None,
    p_uncond: Annotated[Optional[float], typer.Option(help="Classifier-free-guidance condition dropout "
                                                      "probability (the plan's best: 0.2).",
                                                      show_default=False)] = None,
    steps: Annotated[Optional[int], typer.Option(help="Optimizer steps in total (with --resume: extends the run).",
                                                 show_default=False)] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Examples per process and micro-batch (a step takes "
                                                           "batch size x processes x train.grad_accum).",
                                                      show_default=False)] = None,
    lr: Annotated[Optional[float], typer.Option(help="Adam learning rate.", show_default=False)] = None,
    crop_frames: Annotated[Optional[int], typer.Option(help="Random training crops, in STFT frames.",
                                                       show_default=False)] = None,
    mixed_precision: Annotated[Optional[str], typer.Option(metavar="[no|bf16|fp16]", help="Autocast precision "
                                                           "(bf16 also on CPUs; fp16 with loss scaling, for GPUs).",
                                                           show_default=False)] = None,
    num_workers: Annotated[Optional[int], typer.Option(help="Data-loader workers per process (capped at the CPUs).",
                                                       show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of data order, crops, mixing and the objective's noise.",
                                                show_default=False)] = None,
    save_every: Annotated[Optional[int], typer.Option(help="Write a resumable checkpoint and export "
                                                      "model.safetensors every N steps (and at the last step).",
                                                      show_default=False)] = None,
    tracker: Annotated[Optional[list[str]], typer.Option(metavar="[tensorboard|wandb]", help="Also log to "
                                                         "TensorBoard or W&B (repeatable); train_log.csv is "
                                                         "always written.", show_default=False)] = None,
    clap_ckpt: Annotated[Optional[Path], typer.Option(help="Official LAION-CLAP checkpoint file "
                                                      "(with --encoder clap).", show_default=False)] = None,
    panns_ckpt: Annotated[Optional[Path], typer.Option(help="Official PANNs Cnn14 checkpoint file "
                                                       "(with --encoder panns).", show_default=False)] = None,
    freeze_encoder: Annotated[Optional[bool], typer.Option("--freeze-encoder/--finetune-encoder",
                                                           help="Keep a pre-trained encoder tower fixed, or "
                                                                "fine-tune it.", show_default=False)] = None,
    encoder_lr: Annotated[Optional[float], typer.Option(help="Learning rate of a fine-tuned encoder tower.",
                                                        show_default=False)] = None,
    init_from: Annotated[Optional[str], typer.Option(help="Start from this model's weights (a workspace name or a "
                                                     "model directory, e.g. an imported SGMSE+ checkpoint): the "
                                                     "new conditioning starts with no effect, so step 0 gives "
                                                     "that model's score exactly.", show_default=False)] = None,
    download_weights: Annotated[bool, typer.Option("--download-weights", help="Download a pre-trained encoder's "
                                                   "official checkpoint to ~/.cache/ncse ($NCSE_CACHE) when it "
                                                   "is not there (NCSE_ALLOW_DOWNLOAD=1 in the environment "
                                                   "allows it too); otherwise nothing is downloaded.")] = False,
    workdir: Annotated[Optional[Path], typer.Option(help="Workspace folder [dim](default: $NCSE_HOME or "
                                                    "./ncse-runs)[/].", show_default=False)] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run NAME from its newest checkpoint.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing model NAME.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved config and exit.")] = False,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Train a noise-conditioned score model. Precedence: built-in defaults < --recipe < flags.

    Multi-GPU: [bold]accelerate launch --num_processes 4 -m ncse_cli train ...[/] (or torchrun).
    """
    from ncse_cli import api

    overrides = {"model.encoder": encoder, "model.backbone": backbone, "model.conditioning.injection": injection,
                 "train.p_uncond": p_uncond, "train.steps": steps, "train.batch_size": batch_size, "train.lr": lr,
                 "train.crop_frames": crop_frames, "train.mixed_precision": mixed_precision,
                 "train.num_workers": num_workers, "train.seed": seed, "train.save_every": save_every,
                 "train.init_from": init_from,
                 "train.trackers": list(tracker) if tracker else None}
    with task_bars(progress and not dry_run) as bars:
        outcome = api.train(name, recipe=recipe, data=data, overrides=overrides, clap_ckpt=clap_ckpt,
                            panns_ckpt=panns_ckpt, freeze_encoder=freeze_encoder, encoder_lr=encoder_lr,
                            download_weights=download_weights, resume=resume, overwrite=overwrite,
                            dry_run=dry_run, workdir=workdir, progress=bars)
    if dry_run:  # highlighted on a terminal; exact text when redirected (a starting point for a recipe)
        text = outcome.config_yaml
        console.print(Syntax(text, "yaml", word_wrap=True)) if console.is_terminal else typer.echo(text, nl=False)
    elif outcome.summary is not None:  # the main process of a data-parallel run
        console.print(_summary_table(name, outcome.summary))


def _summary_table(name: str | None, summary: RunSummary) -> Table:
    def fmt(value: float, spec: str = ".4f") -> str:
        return "-" if math.isnan(value) else format(value, spec)

    table = Table(title=f"Trained {name}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for label, value in [("model directory", str(summary.run_dir)), ("steps", str(summary.steps)),
                         ("training loss", fmt(summary.loss)), ("validation loss", fmt(summary.val_loss)),
                         ("best validation loss", fmt(summary.best_val_loss)),
                         ("validation SI-SDR (dB)", fmt(summary.val_si_sdr, ".2f")),
                         ("training time", f"{fmt(summary.seconds, '.1f')} s")]:
        table.add_row(label, value)
    return table
