"""Validation of the EMA model: a denoising-score-matching loss and the SI-SDR of a few enhanced examples.

Both use fixed generators (per validation batch, and one for the sampler), so their values at different steps of
one run, and across runs with the same seed, differ only because the weights differ. Validation runs on the main
process; it does not depend on how many processes train.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from ncse_cli.enhancement import enhance_waveforms
from ncse_cli.metrics import si_sdr
from ncse_cli.model import ScoreModel
from ncse_cli.objective import TrainingObjective
from ncse_cli.training.config import RunConfig


def in_order(dataset: Dataset, batch_size: int) -> DataLoader:
    """Batches of ``dataset`` in order, from a loader with its own generator: validating must not draw from the
    global generator that training uses (dropout), or a changed ``val_every`` would change the weights."""
    return DataLoader(dataset, batch_size=batch_size, generator=torch.Generator())


@torch.no_grad()
def validation_loss(model: ScoreModel, dataset: Dataset, batch_size: int, seed: int, l1_weight: float) -> float:
    """Mean training loss (condition always kept) over ``dataset``, batch ``i`` drawing from generator
    ``seed + i``."""
    device = next(model.parameters()).device
    objective = TrainingObjective(model, p_uncond=0.0, l1_weight=l1_weight)
    total, count = 0.0, 0
    for i, batch in enumerate(in_order(dataset, batch_size)):
        generator = torch.Generator(device).manual_seed(seed + i)
        loss = objective(batch["clean"].to(device), batch["noisy"].to(device), batch["noise_ref"].to(device),
                         batch["noise_ref_length"].to(device), batch["ref_key"], generator=generator)
        total += float(loss) * len(batch["clean"])
        count += len(batch["clean"])
    return total / count if count else math.nan


def validation_si_sdr(model: ScoreModel, dataset: Dataset, sampler, seed: int) -> float:
    """Mean SI-SDR (dB) of ``dataset``'s examples enhanced in one batch at guidance scale 1.

    An example whose clean crop is silent has no SI-SDR (0 / 0: the formula would return its epsilon, near
    -150 dB, and swamp the mean); it is left out as evaluation leaves it out. NaN when no example has one.
    """
    if len(dataset) == 0:
        return math.nan
    batch = next(iter(in_order(dataset, len(dataset))))
    generator = torch.Generator(next(model.parameters()).device).manual_seed(seed)
    out = enhance_waveforms(model, batch["noisy"], batch["noise_ref"], noise_ref_lengths=batch["noise_ref_length"],
                  sampler=sampler, generator=generator).waveform.cpu()
    scores = [si_sdr(est, ref) for est, ref in zip(out, batch["clean"]) if torch.any(ref != ref[0])]
    return float(np.mean(scores)) if scores else math.nan


def validate(model: ScoreModel, dataset: Dataset | None, cfg: RunConfig) -> dict[str, float]:
    """``val_loss`` over ``train.val_items`` examples and ``val_si_sdr`` over the first ``train.val_utterances``."""
    if dataset is None:
        return {}
    train = cfg.train
    values = {}
    if train.val_items:
        items = Subset(dataset, range(min(train.val_items, len(dataset))))
        values["val_loss"] = validation_loss(model, items, train.batch_size, train.seed, train.l1_weight)
    if train.val_utterances:
        utterances = Subset(dataset, range(min(train.val_utterances, len(dataset))))
        values["val_si_sdr"] = validation_si_sdr(model, utterances, validation_sampler(cfg), train.seed)
    return values


def validation_sampler(cfg: RunConfig):
    """The run's sampler with ``train.val_steps`` steps (when the sampler has a ``steps`` setting)."""
    if any(f.name == "steps" for f in dataclasses.fields(cfg.sampler)):
        return dataclasses.replace(cfg.sampler, steps=cfg.train.val_steps)
    return cfg.sampler
