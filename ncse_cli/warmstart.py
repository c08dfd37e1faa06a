"""Warm starts: a new model begins from a trained one (``ncse train --init-from MODEL``).

The typical use is the research plan on a budget: an unconditioned score network (an imported SGMSE+ checkpoint
or an ncse run) becomes the starting point of a conditioned one, and training only fine-tunes. Every weight the
two models share is copied. Every weight only the new model has belongs to its conditioning path (the noise
encoder, the null condition, the condition projections, FiLM, cross-attention), and that path enters the score
network through layers initialised at zero (the last layer of the ``add`` projection, each block's FiLM
projection, each cross-attention block's output projection, all with a plain residual). So at step 0 the
conditioned model's score equals the source model's score exactly, for every reference and guidance scale
(``tests/training/test_warmstart.py``).

The two models must agree on everything the copied weights depend on: sample rate, STFT, SDE, loss and
parameterisation, and the backbone's layout (cross-attention placement aside).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ncse_cli.model_dir import read_model_files, read_state
from ncse_cli.config import flat_config, to_dict
from ncse_cli.errors import NcseError
from ncse_cli.model import ModelConfig, ScoreModel

#: Model settings a warm start may change: what conditions the model, and inference-only padding.
_FREE = ("model.encoder", "model.conditioning", "model.pad_frames", "model.backbone.xattn_resolutions",
         "model.backbone.xattn_heads", "model.backbone.xattn_skip_rescale")


class WarmStartError(NcseError):
    """A source model whose weights cannot start the new model; the message names the difference."""


@dataclass
class WarmStart:
    """What a warm start did."""

    source: Path
    copied: int  #: tensors copied from the source
    new: list[str]  #: tensors only the new model has (its conditioning path), left at their initialisation


def incompatibilities(source: ModelConfig, target: ModelConfig) -> list[str]:
    """Dotted model settings that differ and that the copied weights depend on."""
    old, new = (flat_config(to_dict(cfg), "model.") for cfg in (source, target))
    keys = sorted(set(old) | set(new))
    return [k for k in keys if old.get(k) != new.get(k) and not any(k == f or k.startswith(f + ".") for f in _FREE)]


def warm_start(model: ScoreModel, source: str | Path) -> WarmStart:
    """Copy the weights of the model directory ``source`` into ``model`` (see the module docstring)."""
    source = Path(source)
    files = read_model_files(source)
    differing = incompatibilities(files.model_config, model.cfg)
    if differing:
        raise WarmStartError(f"cannot start from {source}: it differs in {', '.join(differing[:4])}"
                             f"{' ...' if len(differing) > 4 else ''} (a warm start may change only the noise "
                             "encoder, the conditioning and cross-attention)")
    state = read_state(files)  # an edited config.yaml or corrupted weights are refused here, as at any load
    own = model.state_dict()
    extra = sorted(set(state) - set(own))
    if extra:
        raise WarmStartError(f"cannot start from {source}: it has weights the new model lacks ({extra[0]}, ...); "
                             "a warm start adds conditioning, it does not remove it")
    mismatched = [k for k in state if state[k].shape != own[k].shape]
    if mismatched:
        k = mismatched[0]
        raise WarmStartError(f"cannot start from {source}: {k} is {tuple(state[k].shape)} there and "
                             f"{tuple(own[k].shape)} here")
    with torch.no_grad():
        model.load_state_dict({**own, **state})
    return WarmStart(source, len(state), sorted(set(own) - set(state)))
