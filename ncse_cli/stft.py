"""The complex-spectrogram representation of SGMSE+ and its exact inverse.

Richter, Welker, Lemercier, Lay, Gerkmann, "Speech Enhancement and Dereverberation with Diffusion-based
Generative Models", IEEE/ACM TASLP 2023, Sec. IV-A: a centred STFT (n_fft 510, hop 128, periodic Hann window)
whose magnitudes are compressed as ``beta * |X|**alpha * exp(i * angle(X))`` with alpha 0.5 and beta 0.15.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

_EPS = 1e-12  # keeps angle() and the inverse power defined at exact zeros


@dataclass(frozen=True)
class STFTConfig:
    """Parameters of the spectrogram representation (defaults: the SGMSE+ VoiceBank-DEMAND setting)."""

    n_fft: int = 510
    hop_length: int = 128
    alpha: float = 0.5
    beta: float = 0.15

    @property
    def freq_bins(self) -> int:
        return self.n_fft // 2 + 1


class Spectrogram:
    """Waveform <-> compressed complex spectrogram, shaped ``[B, 1, F, T]`` (complex64).

    ``forward`` is ``compress(stft(x))``; ``inverse`` is ``istft(decompress(X))`` and undoes it up to float
    rounding. Frames are centred, so ``T = 1 + L // hop_length``.
    """

    def __init__(self, cfg: STFTConfig = STFTConfig()) -> None:
        self.cfg = cfg
        self._windows: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    def window(self, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        key = (device, dtype)
        if key not in self._windows:
            self._windows[key] = torch.hann_window(self.cfg.n_fft, periodic=True, device=device, dtype=dtype)
        return self._windows[key]

    def stft(self, wav: torch.Tensor) -> torch.Tensor:
        """Complex STFT of ``wav [B, L]`` -> ``[B, 1, F, T]``."""
        spec = torch.stft(wav, self.cfg.n_fft, self.cfg.hop_length, window=self.window(wav.device, wav.dtype),
                          center=True, return_complex=True)
        return spec.unsqueeze(1)

    def istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Inverse of :meth:`stft`: ``[B, 1, F, T]`` -> ``[B, length]``."""
        real_dtype = spec.real.dtype
        return torch.istft(spec.squeeze(1), self.cfg.n_fft, self.cfg.hop_length,
                           window=self.window(spec.device, real_dtype), center=True, length=length)

    def compress(self, spec: torch.Tensor) -> torch.Tensor:
        """``beta * |X|^alpha * exp(i angle X)``."""
        mag = spec.abs()
        return self.cfg.beta * mag.clamp_min(_EPS) ** self.cfg.alpha * torch.exp(1j * spec.angle())

    def decompress(self, spec: torch.Tensor) -> torch.Tensor:
        """Exact inverse of :meth:`compress`: ``(|Z| / beta)^(1/alpha) * exp(i angle Z)``."""
        mag = (spec.abs() / self.cfg.beta).clamp_min(0) ** (1.0 / self.cfg.alpha)
        return mag * torch.exp(1j * spec.angle())

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """Waveform ``[B, L]`` -> compressed spectrogram ``[B, 1, F, T]``."""
        return self.compress(self.stft(wav))

    def inverse(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        """Compressed spectrogram ``[B, 1, F, T]`` -> waveform ``[B, length]``."""
        return self.istft(self.decompress(spec), length)

    __call__ = forward

    def num_frames(self, num_samples: int) -> int:
        """Frames of a centred STFT of ``num_samples`` samples."""
        return 1 + num_samples // self.cfg.hop_length

    def num_samples(self, num_frames: int) -> int:
        """Longest waveform whose centred STFT has ``num_frames`` frames."""
        return (num_frames - 1) * self.cfg.hop_length


def peak_normalize(noisy: torch.Tensor, *others: torch.Tensor | None,
                   scale: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
    """Divide ``noisy [B, L]`` and every other signal of the same example by the noisy peak (SGMSE+ practice).

    Returns ``(scale [B, 1], noisy / scale, *others / scale)``; multiply an estimate by ``scale`` to undo it.
    ``None`` entries pass through, so an absent reference needs no special case. A given ``scale`` replaces the
    peak of ``noisy`` (a window of a long file is divided by the whole file's peak).
    """
    if scale is None:
        scale = peak_scale(noisy)
    return (scale, noisy / scale, *(None if x is None else x / scale for x in others))


def peak_scale(noisy: torch.Tensor) -> torch.Tensor:
    """The divisor of :func:`peak_normalize`: the peak magnitude of each row of ``noisy [B, L]``, as ``[B, 1]``."""
    return noisy.abs().amax(dim=-1, keepdim=True).clamp_min(1e-8)
