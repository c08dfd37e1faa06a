"""Building a training session in Accelerate's canonical order: accelerator, seed, data, model, optimizer, prepare.

A :class:`Session` holds what the loop, validation and checkpointing share. Only the main process writes files,
logs and shows progress; every process holds the same model, optimizer and EMA.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import (DataLoaderConfiguration, DistributedDataParallelKwargs, GradientAccumulationPlugin,
                               ProjectConfiguration, set_seed)
from torch.utils.data import DataLoader, Dataset, Subset

from ncse_cli.data.datasets import build_dataset
from ncse_cli.errors import NcseError
from ncse_cli.model import ScoreModel, build_model
from ncse_cli.objective import TrainingObjective
from ncse_cli.training.config import RunConfig, TrainConfig, segment_samples
from ncse_cli.training.ema import EMA, build_ema
from ncse_cli.training.state import DataPosition
from ncse_cli.warmstart import warm_start

log = logging.getLogger("ncse")


class TrainingError(NcseError):
    """A training run that cannot start or continue; the message says why and what to do."""


@dataclass
class Session:
    """The live state of a run. ``objective``, ``optimizer`` and ``train_loader`` are Accelerate-prepared."""

    cfg: RunConfig
    run_dir: Path
    accelerator: Accelerator
    model: ScoreModel  #: the unwrapped model (the objective's ``model``)
    objective: torch.nn.Module
    optimizer: torch.optim.Optimizer
    ema: EMA
    train_loader: DataLoader
    val_set: Dataset | None  #: validation examples (main process only)
    step: int = 0
    position: DataPosition = field(default_factory=DataPosition)
    seconds: float = 0.0  #: training time up to ``step``, summed over the sessions of this run

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process


def build_accelerator(train: TrainConfig, run_dir: Path) -> Accelerator:
    """An Accelerator for this run (mixed precision, accumulation, trackers, seeded data order)."""
    # Accelerate keeps process-wide singletons; a second run in one process (the demo trains two models)
    # must not inherit the first run's precision or accumulation settings. The process group is kept.
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    try:
        accelerator = Accelerator(
            cpu=_cpu_only_launch(),
            mixed_precision=train.mixed_precision,
            gradient_accumulation_plugin=GradientAccumulationPlugin(num_steps=train.grad_accum,
                                                                    sync_with_dataloader=False),
            log_with=list(train.trackers) or None,
            project_config=ProjectConfiguration(project_dir=str(run_dir), logging_dir=str(run_dir / "logs")),
            dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=train.seed),
            # Some parameters can sit out a step (a learned null condition when p_uncond is 0); DDP must not
            # wait for their gradients.
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    except (ValueError, RuntimeError) as err:
        raise TrainingError(f"cannot set up --mixed-precision {train.mixed_precision}: {err}") from None
    if train.mixed_precision == "fp16" and accelerator.device.type == "cpu":
        # Accelerate applies neither fp16 autocast nor loss scaling on the CPU: the run would be float32.
        raise TrainingError("--mixed-precision fp16 needs a GPU (on the CPU it would silently train in float32); "
                            "use bf16 or no")
    return accelerator


def _cpu_only_launch() -> bool:
    """True for a multi-process launch (torchrun, ``accelerate launch --multi_gpu``) on a machine without GPUs.

    Accelerate would otherwise leave each process undistributed; with ``cpu=True`` they join a gloo group.
    """
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one, else every CPU)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def loader_workers(requested: int) -> int:
    """``train.num_workers`` capped at :func:`available_cpus`: more workers than cores only contend for them, and
    torch warns about it (the default 4 on a 2-core machine)."""
    return min(requested, available_cpus())


def build_loaders(cfg: RunConfig, accelerator: Accelerator) -> tuple[DataLoader, Dataset | None]:
    """The shuffled training loader (whole batches only) and, on the main process, the validation examples."""
    if cfg.data is None:
        raise TrainingError("no training data: pass --data (a manifest, a prepared folder or a data YAML) "
                            "or give the recipe a data: section")
    segment = segment_samples(cfg)
    rate, seed = cfg.model.sample_rate, cfg.train.seed
    train_set = build_dataset(cfg.data, "train", segment, rate, seed)
    per_step = cfg.train.batch_size * accelerator.num_processes
    if len(train_set) < per_step:
        raise TrainingError(f"the training data has {len(train_set)} examples, fewer than one batch "
                            f"({cfg.train.batch_size} x {accelerator.num_processes} processes); lower --batch-size")
    # Workers are not persistent: each epoch's workers copy the dataset after its set_epoch (fresh crops).
    # The loader's own generator: starting an iterator (each epoch, and on resume) would otherwise draw from the
    # global one that dropout or a fine-tuned tower's SpecAugment use, and resume would not be exact.
    loader = DataLoader(train_set, batch_size=cfg.train.batch_size, shuffle=True, drop_last=True,
                        num_workers=loader_workers(cfg.train.num_workers),
                        generator=torch.Generator().manual_seed(seed))
    wanted = max(cfg.train.val_items, cfg.train.val_utterances)
    val_set = None
    if cfg.data.valid is None:
        log.info("no validation manifest (data.valid): training without validation")
    elif accelerator.is_main_process and wanted:
        full = build_dataset(cfg.data, "valid", segment, rate, seed)
        val_set = Subset(full, range(min(wanted, len(full))))
    return loader, val_set


def build_optimizer(model: ScoreModel, train: TrainConfig) -> torch.optim.Optimizer:
    """Adam over the model's parameter groups (a frozen encoder tower brings none; a fine-tuned one its own lr)."""
    groups = [g for g in model.parameter_groups(train.lr) if g["params"]]
    return torch.optim.Adam(groups, lr=train.lr)


def build_session(cfg: RunConfig, run_dir: Path, download_weights: bool = False,
                  warm_start_from: Path | None = None) -> Session:
    """Accelerator, seed, data, model (its weights from ``warm_start_from`` when given), optimizer and EMA, then
    ``prepare``; nothing is written to disk (``download_weights``: a pre-trained encoder may download its official
    checkpoint to the cache)."""
    accelerator = build_accelerator(cfg.train, run_dir)
    set_seed(cfg.train.seed)
    train_loader, val_set = build_loaders(cfg, accelerator)
    model = build_model(cfg.model, download_pretrained=download_weights)
    if warm_start_from is not None:
        started = warm_start(model, warm_start_from)
        log.info("starting from %s: %d tensors copied, %d new (conditioning)", started.source, started.copied,
                 len(started.new))
    objective = TrainingObjective(model, cfg.train.p_uncond, cfg.train.l1_weight)
    optimizer = build_optimizer(model, cfg.train)
    objective, optimizer, train_loader = accelerator.prepare(objective, optimizer, train_loader)
    ema = build_ema(model, cfg.train.ema_decay, cfg.train.ema_warmup).to(accelerator.device)
    return Session(cfg, run_dir, accelerator, model, objective, optimizer, ema, train_loader, val_set)


def clip_value(train: TrainConfig) -> float:
    """The max-norm handed to gradient clipping (infinite when clipping is off: the norm is still measured)."""
    return math.inf if train.grad_clip is None else train.grad_clip
