"""The training loop: ``train(cfg, workspace, name)`` trains a named model of the workspace with Accelerate.

Single process by default; under ``accelerate launch`` or ``torchrun`` the same code runs data-parallel (each
process draws different batches of one shared, seeded order; gradients are averaged). Randomness of the
objective (diffusion times, noise, condition dropout) comes from a generator seeded by (seed, step, micro-batch,
process), so a resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from accelerate import PartialState

from ncse_cli.progress import Progress, open_task
from ncse_cli.training.checkpoints import export, restore, save
from ncse_cli.training.config import RunConfig
from ncse_cli.training.metrics_log import MetricsLog
from ncse_cli.training.rundir import check_run_dir, run_dir_for, start_run, tracker_config, training_lock
from ncse_cli.training.session import Session, TrainingError, build_session, clip_value
from ncse_cli.training.state import DataPosition, discard_dir, list_checkpoints
from ncse_cli.training.validation import validate
from ncse_cli.workspace import Workspace

log = logging.getLogger("ncse")


def is_main_process() -> bool:
    """True in a single-process run and on the main process of a distributed one."""
    return PartialState().is_main_process


def step_generator(seed: int, step: int, micro: int, rank: int, device: torch.device) -> torch.Generator:
    """The generator of one micro-batch's objective: a pure function of where it is in the run."""
    state = np.random.SeedSequence([seed, step, micro, rank]).generate_state(2, dtype=np.uint32)
    return torch.Generator(device).manual_seed(int(state[0]) << 32 | int(state[1]))


def batches(session: Session) -> Iterator[dict]:
    """The endless batch stream from ``session.position``, advancing the position as batches are taken."""
    loader, acc = session.train_loader, session.accelerator
    epoch, skip = session.position.epoch, session.position.batch
    while True:
        loader.set_epoch(epoch)  # the sampler's shuffle order
        loader.dataset.set_epoch(epoch)  # the dataset's crops and mixtures
        source = acc.skip_first_batches(loader, skip) if skip else loader
        for index, batch in enumerate(source, start=skip):
            done = index + 1 == len(loader)
            session.position = DataPosition(epoch + 1, 0) if done else DataPosition(epoch, index + 1)
            yield batch
        epoch, skip = epoch + 1, 0


def train_step(session: Session, stream: Iterator[dict]) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step over ``train.grad_accum`` micro-batches; returns (mean loss, gradient norm)."""
    acc, train = session.accelerator, session.cfg.train
    losses, norm = [], torch.tensor(math.nan)
    for micro in range(train.grad_accum):
        batch = next(stream)
        generator = step_generator(train.seed, session.step, micro, acc.process_index, acc.device)
        with acc.accumulate(session.objective):
            loss = session.objective(batch["clean"], batch["noisy"], batch["noise_ref"], batch["noise_ref_length"],
                                     batch["ref_key"], generator=generator)
            acc.backward(loss)
            if acc.sync_gradients:
                norm = acc.clip_grad_norm_(session.model.parameters(), clip_value(train))
            session.optimizer.step()
            session.optimizer.zero_grad(set_to_none=True)
        losses.append(loss.detach())
    session.ema.update_parameters(session.model)
    return torch.stack(losses).mean(), norm.detach()


class Window:
    """Running sums of loss and gradient norm between two log rows, and the first non-finite gradient norm.

    All stay on the device: reading one back every step would make the host wait for the device every step.
    """

    def __init__(self) -> None:
        self.loss, self.count, self.norm, self.norms = 0.0, 0, 0.0, 0
        self.bad_step, self.bad_norm = None, None  # device tensors once a gradient was added

    def add(self, loss: torch.Tensor, norm: torch.Tensor, step: int, skipped: bool = False) -> None:
        """Add a step's loss and gradient norm; the norm of a step that fp16 loss scaling ``skipped`` (it
        overflowed, as expected now and then) is left out."""
        self.loss, self.count = self.loss + loss, self.count + 1
        if skipped:
            return
        self.norm, self.norms = self.norm + norm, self.norms + 1
        if self.bad_step is None:
            self.bad_step, self.bad_norm = torch.zeros_like(norm, dtype=torch.long), torch.zeros_like(norm)
        first = ~torch.isfinite(norm) & (self.bad_step == 0)
        self.bad_step = torch.where(first, step, self.bad_step)
        self.bad_norm = torch.where(first, norm, self.bad_norm)

    def check(self) -> None:
        """Raise when a gradient norm was not finite (its weights are not to be logged, validated or saved)."""
        if self.bad_step is not None and (step := int(self.bad_step)):
            raise TrainingError(f"the gradient became {float(self.bad_norm)} at step {step}; "
                                f"lower --lr or train.grad_clip, or use --mixed-precision no")

    def flush(self, session: Session) -> dict[str, float]:
        """Loss averaged over the window and the processes, mean gradient norm, current learning rate."""
        loss = session.accelerator.reduce(torch.as_tensor(self.loss / self.count, device=session.accelerator.device),
                                          "mean")
        values = {"loss": float(loss), "grad_norm": float(self.norm / self.norms) if self.norms else math.nan,
                  "lr": session.optimizer.param_groups[0]["lr"]}
        self.__init__()
        return values


def after_step(session: Session, window: Window, metrics: MetricsLog | None, start: float,
               stopping: bool = False) -> dict[str, float]:
    """Log, validate and checkpoint when their intervals (or the last step, or a stop request) say so."""
    train, acc, step = session.cfg.train, session.accelerator, session.step
    last = step == train.steps
    logs, validates = step % train.log_every == 0 or last or stopping, step % train.val_every == 0 or last
    saves = step % train.save_every == 0 or last or stopping
    if not (logs or validates or saves):
        return {}
    window.check()
    row = window.flush(session) if logs else {}
    if validates:
        row.update(validate(session.ema.module, session.val_set, session.cfg) if session.is_main else {})
        acc.wait_for_everyone()
    session.seconds = time.perf_counter() - start
    if row and metrics is not None:
        metrics.write(step, {**row, "seconds": session.seconds})
        acc.log(row, step=step)
    if saves:
        save(session)
    return row


def run(session: Session, progress: Progress | None = None) -> None:
    """Train from ``session.step`` to ``train.steps``; Ctrl-C (one process) stops after a step with a checkpoint.
    The main process reports the task ``train`` to ``progress``, with the last logged loss as its note."""
    train, acc = session.cfg.train, session.accelerator
    metrics = MetricsLog(session.run_dir, session.step) if session.is_main else None
    stream, window, start = batches(session), Window(), time.perf_counter() - session.seconds
    task = open_task(progress if session.is_main else None, "train")
    task(session.step, train.steps)
    with StopRequest(enabled=acc.num_processes == 1) as stop:
        while session.step < train.steps:
            loss, norm = train_step(session, stream)
            session.step += 1
            window.add(loss, norm, session.step, acc.optimizer_step_was_skipped)
            row = after_step(session, window, metrics, start, stop.requested)
            task(session.step, train.steps, note=f"loss {row['loss']:.4f}" if "loss" in row else None)
            if stop.requested and session.step < train.steps:
                raise TrainingError(f"interrupted at step {session.step}; checkpoint saved, continue with "
                                    f"--name {session.run_dir.name} --resume")


class StopRequest:
    """While active, the first Ctrl-C asks the loop to stop after the current step; a second one aborts at once.

    Only for single-process runs in the main thread: processes of a data-parallel run would stop at different
    steps and wait for each other forever.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("interrupted: stopping after this step with a checkpoint (Ctrl-C again aborts at once)")

    def __enter__(self) -> "StopRequest":
        if self.enabled:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            signal.signal(signal.SIGINT, self._previous)


def train(cfg: RunConfig, workspace: Workspace | str | os.PathLike | None, name: str, *, resume: bool = False,
          overwrite: bool = False, progress: Progress | None = None, download_weights: bool = False) -> Path:
    """Train (or with ``resume`` continue) the model ``name`` of ``workspace``; returns its model directory.

    The directory holds ``config.yaml``, ``model.safetensors`` (EMA weights), ``checkpoints/`` and
    ``train_log.csv``. Errors in the config, data, workspace or pre-trained weights are raised before anything is
    written; a kill at any moment after that leaves a run that ``resume`` continues to the same end (see
    :mod:`ncse_cli.training.checkpoints`).
    """
    run_dir = run_dir_for(workspace, name)
    check_run_dir(run_dir, cfg, resume=resume, overwrite=overwrite)
    source = None
    if cfg.train.init_from and not resume:  # a resumed run takes its weights from its checkpoint
        source = Workspace(run_dir.parent.parent).resolve(cfg.train.init_from)
    session = build_session(cfg, run_dir, download_weights, source)
    try:
        if not resume:  # e.g. a tower without its weights; a resumed run's come back from its checkpoint
            session.model.encoder.check_trainable()
        with training_lock(run_dir, enabled=session.is_main):
            check_run_dir(run_dir, cfg, resume=resume, overwrite=overwrite)  # again, now that it cannot change
            if resume:
                _resume(session, name)
            else:
                start_run(session, overwrite)
            session.accelerator.init_trackers("ncse", config=tracker_config(cfg, name))
            _run_guarded(session, progress, fresh=not resume)
    finally:
        session.accelerator.end_training()
    return run_dir


def _resume(session: Session, name: str) -> None:
    restore(session, list_checkpoints(session.run_dir)[-1][1])
    steps = session.cfg.train.steps
    if session.step > steps:
        raise TrainingError(f"{name!r} is already at step {session.step}, beyond --steps {steps}")
    if session.step == steps:
        if session.is_main:  # older versions exported after the checkpoint: a crash between left older weights
            export(session)
        log.info("%s: already trained for %d steps; nothing to do", name, steps)
    else:
        log.info("%s: resuming from step %d of %d", name, session.step, steps)


def _run_guarded(session: Session, progress: Progress | None, fresh: bool) -> None:
    """Run; a fresh run that fails (with an exception) before its first checkpoint after step 0 leaves no
    directory behind."""
    try:
        run(session, progress)
    except BaseException:
        if fresh and session.is_main and [step for step, _ in list_checkpoints(session.run_dir)] == [0]:
            discard_dir(session.run_dir)
        raise

