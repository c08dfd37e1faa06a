"""Enhance waveforms with a trained score model: normalise, encode the reference once, sample, invert.

The reference is encoded once per call (once per utterance batch), never per sampler step; the noisy input,
clean target and reference share the noisy peak-normalisation factor (SGMSE+ practice), which is undone on the
way out. As in SGMSE+'s ``enhance``, the mixture's spectrogram is zero-padded once to a multiple of
``model.cfg.pad_frames`` frames, the padded frames diffuse with the rest, and the whole padded estimate is
inverted and cut to the input's length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ncse_cli.conditioning import Condition
from ncse_cli.model import ScoreModel
from ncse_cli.precision import autocast
from ncse_cli.sampling import Guidance, run_sampler
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
                      callback: StepCallback | None = None, precision: str = "fp32", cond: Condition | None = None,
                      scale: torch.Tensor | None = None) -> Enhancement:
    """Enhance ``noisy [B, L]`` (or ``[L]``) given noise references ``[B, R]`` at guidance scale ``w``.

    ``sampler`` is a registered sampler's config (default: predictor-corrector, 30 steps); ``noise_ref=None``
    enhances unconditionally. ``precision`` (``fp32``, ``bf16``, ``fp16``: :mod:`ncse_cli.precision`) is the
    autocast of the network; the sampler's arithmetic and the waveform stay in the model's precision. The
    windows of a long file pass the file's peak as ``scale`` (``[B, 1]``; default the peak of ``noisy``) and its
    reference encoded once as ``cond`` instead of ``noise_ref`` (:func:`ncse_cli.chunking.bind_window_enhancer`).
    """
    squeeze = noisy.dim() == 1
    if squeeze:
        noisy = noisy[None]
        noise_ref = None if noise_ref is None else noise_ref.reshape(1, -1)
    weight = next(model.parameters())  # audio in the model's precision (float32; float64 in exactness tests)
    noisy = noisy.to(weight.device, weight.dtype)
    noise_ref = None if noise_ref is None else noise_ref.to(weight.device, weight.dtype)
    sampler = sampler or PCConfig()
    scale, y_wav, ref = peak_normalize(noisy, noise_ref, scale=None if scale is None else scale.to(weight.device))
    y = pad_frames(model.spectrogram(y_wav), model.cfg.pad_frames)
    with autocast(precision, weight.device):
        guided = Guidance(model, model.encode(ref, noise_ref_lengths) if cond is None else cond, w)
        result = run_sampler(sampler, guided, y, model.sde, generator=generator, callback=callback)
    waveform = model.spectrogram.inverse(result.x, noisy.shape[-1]) * scale
    waveform = waveform[0] if squeeze else waveform
    return Enhancement(waveform, result.nfe, guided.network_evaluations, guided.mode)


def pad_frames(spec: torch.Tensor, multiple: int | None) -> torch.Tensor:
    """Zero frames appended to ``spec [B, 1, F, T]`` up to a multiple of ``multiple`` (SGMSE+'s ``pad_spec``)."""
    if not multiple or spec.shape[-1] % multiple == 0:
        return spec
    return F.pad(spec, (0, multiple - spec.shape[-1] % multiple))
