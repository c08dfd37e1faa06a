"""Enhance waveforms with a trained score model: normalise, encode the reference once, sample, invert.

The reference is encoded once per call (once per utterance batch), never per sampler step; the noisy input,
clean target and reference share the noisy peak-normalisation factor (SGMSE+ practice), which is undone on the
way out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ncse_cli.model import ScoreModel
from ncse_cli.sampling import SAMPLERS, GuidedScore
from ncse_cli.sampling.base import StepCallback
from ncse_cli.sampling.pc import PCConfig
from ncse_cli.stft import peak_normalize


@dataclass
class Enhancement:
    """Enhanced waveforms ``[B, L]`` and what producing them cost."""

    waveform: torch.Tensor
    nfe: int  #: score-function evaluations
    network_evaluations: int  #: backbone evaluations per example (2 per guided score evaluation)
    guidance: str  #: plain, conditional, unconditional or guided


@torch.inference_mode()
def enhance_waveforms(model: ScoreModel, noisy: torch.Tensor, noise_ref: torch.Tensor | None = None, *,
                      noise_ref_lengths: torch.Tensor | None = None, w: float = 1.0, sampler: Any = None,
                      generator: torch.Generator | list[torch.Generator] | None = None,
                      callback: StepCallback | None = None) -> Enhancement:
    """Enhance ``noisy [B, L]`` (or ``[L]``) given noise references ``[B, R]`` at guidance scale ``w``.

    ``sampler`` is a registered sampler's config (default: predictor-corrector, 30 steps); ``noise_ref=None``
    enhances unconditionally.
    """
    squeeze = noisy.dim() == 1
    if squeeze:
        noisy = noisy[None]
        noise_ref = None if noise_ref is None else noise_ref.reshape(1, -1)
    device = next(model.parameters()).device
    noisy = noisy.to(device, torch.float32)
    noise_ref = None if noise_ref is None else noise_ref.to(device, torch.float32)
    sampler = sampler or PCConfig()
    scale, y_wav, ref = peak_normalize(noisy, noise_ref)
    y = model.spectrogram(y_wav)
    score = GuidedScore(model, model.encode(ref, noise_ref_lengths), w)
    result = SAMPLERS.get(sampler.component)(score, y, model.sde, sampler, generator=generator, callback=callback)
    waveform = model.spectrogram.inverse(result.x, noisy.shape[-1]) * scale
    waveform = waveform[0] if squeeze else waveform
    return Enhancement(waveform, result.nfe, score.network_evaluations, score.mode)
