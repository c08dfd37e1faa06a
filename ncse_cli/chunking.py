"""Enhancing long recordings in overlapping windows, in memory that does not grow with their length.

Whole-file enhancement holds the spectrogram of the whole file and every activation of the score network at
once, so its memory grows with the file's length. Here a file is enhanced one window at a time
(:func:`plan_windows`), and consecutive windows are joined by a raised-cosine cross-fade over their overlap whose
two weights sum to one, as in weighted overlap-add (Crochiere, "A weighted overlap-add method of short-time
Fourier analysis/synthesis", IEEE TASSP 28(1), 1980), so there is no step at a window's edge. Only the window at
hand and the overlap still to be blended are held; finished output leaves as blocks
(:func:`iter_enhanced_blocks`), to be written out as they come (:func:`ncse_cli.audio.save_audio_blocks`).

Every window shares the file's scale and condition (:func:`bind_window_enhancer`): the input is divided by the
whole file's peak (:func:`file_peak`), not by each window's, so a quiet passage is not blown up to full scale and
the windows agree where they overlap; the noise reference is divided by the same peak and encoded once per file.
One sampler generator serves the windows in order, so a file shorter than one window is enhanced exactly as
whole-file enhancement (:func:`ncse_cli.enhancement.enhance`) would with the same generator.

The default window (4 s) is about twice the training crop (256 frames, 2.04 s at 16 kHz with hop 128, and at
48 kHz with hop 384), long enough for the network's context and short enough to bound memory; the 0.5 s overlap
spans many STFT frames, so the cross-fade hides the windows' differing sampler noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch

from ncse_cli.audio_stream import Sliceable
from ncse_cli.enhancement import enhance_waveforms
from ncse_cli.errors import NcseError
from ncse_cli.model import ScoreModel
from ncse_cli.precision import autocast
from ncse_cli.stft import peak_scale

#: One window of the file (1-D, at the model rate) -> its enhancement (same length).
WindowFn = Callable[[torch.Tensor], torch.Tensor]
#: ``progress(windows_done, windows_total)`` after each window.
ProgressFn = Callable[[int, int], None]


class ChunkingError(NcseError, ValueError):
    """Window settings that cannot work."""


@dataclass(frozen=True)
class ChunkingConfig:
    """Window length and overlap of consecutive windows, in seconds."""

    window_seconds: float = 4.0
    overlap_seconds: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.window_seconds < float("inf"):
            raise ChunkingError(f"window must be positive, got {self.window_seconds} s")
        if not 0 <= self.overlap_seconds <= self.window_seconds / 2:
            raise ChunkingError(f"overlap must lie between 0 and half the window ({self.window_seconds / 2:g} s), "
                                f"got {self.overlap_seconds} s")

    def samples(self, sample_rate: int) -> tuple[int, int]:
        """``(window, overlap)`` in samples at ``sample_rate``."""
        return int(round(self.window_seconds * sample_rate)), int(round(self.overlap_seconds * sample_rate))


@dataclass(frozen=True)
class Window:
    """Samples ``[start, stop)`` of the file."""

    start: int
    stop: int


def plan_windows(num_samples: int, window: int, overlap: int) -> list[Window]:
    """Windows of ``window`` samples every ``window - overlap`` covering ``[0, num_samples)``; each sample lies in
    at most two of them.

    The last window ends at the file's end and keeps the full length (shifted back, overlapping its predecessor
    by more); where that would reach into a third window, the last regular window is stretched to the end
    instead (then it is less than ``overlap`` longer than the others). A file no longer than one window is
    one window.
    """
    if num_samples <= window:
        return [Window(0, num_samples)]
    hop = window - overlap
    windows, start = [], 0
    while start + window < num_samples:
        windows.append(Window(start, start + window))
        start += hop
    last_start = num_samples - window
    if len(windows) >= 2 and last_start < windows[-2].stop:
        windows[-1] = Window(windows[-1].start, num_samples)
    else:
        windows.append(Window(last_start, num_samples))
    return windows


def fade_in(length: int) -> np.ndarray:
    """A raised-cosine ramp from 0 to 1 over ``length`` samples; ``1 - fade_in`` is its mirror, and the two sum
    to one, so a signal cross-faded with itself is unchanged."""
    t = (np.arange(length) + 0.5) / max(length, 1)
    return (np.sin(0.5 * np.pi * t) ** 2).astype(np.float32)


def iter_enhanced_blocks(noisy: Sliceable, enhance_window: WindowFn, windows: list[Window],
                         progress: ProgressFn | None = None) -> Iterator[np.ndarray]:
    """Enhance ``noisy [L]`` window by window, yielding the finished output in order as consecutive blocks
    (together ``L`` samples). Overlaps are cross-faded with :func:`fade_in`."""
    pending = np.zeros(0, dtype=np.float32)  # the previous window's output over its overlap with this one
    for index, window in enumerate(windows):
        segment = torch.as_tensor(np.asarray(noisy[window.start:window.stop], dtype=np.float32))
        out = np.asarray(enhance_window(segment).detach().cpu(), dtype=np.float32).copy()
        if len(out) != window.stop - window.start:
            raise ValueError(f"window enhancer returned {len(out)} samples for a window of "
                             f"{window.stop - window.start}")
        ramp = fade_in(len(pending))
        out[:len(pending)] = pending * (1 - ramp) + out[:len(pending)] * ramp
        done = (windows[index + 1].start if index + 1 < len(windows) else window.stop) - window.start
        pending = out[done:]
        if progress is not None:
            progress(index + 1, len(windows))
        yield out[:done]


def file_peak(noisy: np.ndarray | torch.Tensor) -> float:
    """The peak magnitude of a whole file, the one scale of all its windows."""
    samples = np.asarray(noisy, dtype=np.float32)
    return float(max(samples.max(), -samples.min())) if len(samples) else 0.0


def bind_window_enhancer(model: ScoreModel, peak: float, noise_ref: torch.Tensor | None = None, *,
                         w: float = 1.0, sampler: Any = None, generator: torch.Generator | None = None,
                         precision: str = "fp32") -> WindowFn:
    """A :data:`WindowFn` for the windows of one file: the file's ``peak`` (:func:`file_peak`) and its reference
    ``[R]`` (or None: the null condition), divided by that peak and encoded once, are bound in; ``generator`` draws
    each window's noise in turn; ``precision`` is the network's arithmetic (:mod:`ncse_cli.precision`)."""
    device = next(model.parameters()).device
    with torch.inference_mode():
        scale = peak_scale(torch.tensor([[peak]], dtype=torch.float32, device=device))
        ref = None if noise_ref is None else noise_ref.reshape(1, -1).to(device, torch.float32) / scale
        with autocast(precision, device):
            cond = model.encode(ref)

    def enhance_window(window: torch.Tensor) -> torch.Tensor:
        return enhance_waveforms(model, window, cond=cond, scale=scale, w=w, sampler=sampler, generator=generator,
                                 precision=precision).waveform

    return enhance_window


def enhance_chunked(model: ScoreModel, noisy: Sliceable, noise_ref: torch.Tensor | None = None, *,
                    chunking: ChunkingConfig = ChunkingConfig(), peak: float | None = None, w: float = 1.0,
                    sampler: Any = None, generator: torch.Generator | None = None, precision: str = "fp32",
                    progress: ProgressFn | None = None) -> Iterator[np.ndarray]:
    """The enhancement of ``noisy [L]`` (at the model's rate) as consecutive output blocks, window by window.

    ``noisy`` is an array, or any object with ``len`` whose slices are arrays (a file read window by window),
    which must then come with its ``peak``. ``np.concatenate(list(...))`` is the whole output; for ``L`` up to
    one window it equals ``enhance_waveforms(model, noisy, noise_ref, generator=generator, ...).waveform``.
    """
    window, overlap = chunking.samples(model.cfg.sample_rate)
    enhance_window = bind_window_enhancer(model, file_peak(noisy) if peak is None else peak, noise_ref,
                                          w=w, sampler=sampler, generator=generator, precision=precision)
    return iter_enhanced_blocks(noisy, enhance_window, plan_windows(len(noisy), window, overlap), progress)
