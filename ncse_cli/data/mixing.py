"""Mixing speech and noise: SNR measures, mixing at a target SNR without clipping, cross-fades, noise blends.

Two SNR definitions are offered. ``power`` divides mean powers over the whole signal (the default, and what
most speech-enhancement recipes call SNR). ``active`` uses the active speech level of ITU-T Recommendation
P.56 (2011), "Objective measurement of active speech level", method B, so pauses in the speech do not lower
the SNR; see :func:`active_speech_level` for what is simplified.

Every mixture satisfies ``noisy == clean + noise`` exactly in float32 (the sum is formed from the very arrays
that are returned and written), and nothing is ever clipped: when the mixture would exceed ``peak_limit``, clean
and noise are scaled down together and the gain is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from ncse_cli.errors import NcseError

SnrMethod = Literal["power", "active"]
SNR_METHODS: tuple[str, ...] = ("power", "active")

# P.56 method B constants: envelope time constant, hangover, margin between active level and threshold.
P56_TIME_CONSTANT = 0.03
P56_HANGOVER = 0.2
P56_MARGIN_DB = 15.9


class MixingError(NcseError, ValueError):
    """A mixture that cannot be formed (silent speech or noise, mismatched lengths, bad SNR method)."""


def signal_power(x: np.ndarray) -> float:
    """Mean square of a waveform, in float64."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.mean(x * x)) if x.size else 0.0


def active_speech_level(x: np.ndarray, sample_rate: int) -> float:
    """Active speech level (mean square over active samples) after ITU-T P.56 method B.

    The envelope is the rectified signal smoothed twice with a 30 ms exponential; a sample is active when the
    envelope exceeds a threshold ``c``, extended by a 200 ms hangover. The active level ``A(c)`` is the energy
    divided by the active duration; the chosen threshold is where ``A(c)`` lies 15.9 dB above ``c``, found
    by ascending a 0.5 dB grid of thresholds and interpolating linearly in dB (the recommendation's
    ``bin_interp``), and the level is then ``c + 15.9 dB``. Simplifications: floating-point input and a fixed
    0.5 dB grid instead of the recommendation's 16-bit thresholds ``2^j`` refined by bisection; input whose
    margin never falls to 15.9 dB falls back to the plain power.
    """
    x = np.asarray(x, dtype=np.float64)
    energy = float(np.sum(x * x))
    if energy <= 0.0:
        return 0.0
    from scipy import signal  # here: importing scipy.signal takes 1.5 s, and enhancement only cross-fades

    g = np.exp(-1.0 / (sample_rate * P56_TIME_CONSTANT))
    envelope = signal.lfilter([1 - g], [1, -g], signal.lfilter([1 - g], [1, -g], np.abs(x)))
    hangover = int(P56_HANGOVER * sample_rate)
    # Ascend from a threshold where the margin certainly exceeds M (A >= plain power) to the first crossing.
    level_db = 10 * np.log10(energy / len(x)) - P56_MARGIN_DB - 1.0
    previous = (np.inf, level_db)
    while level_db <= 20 * np.log10(envelope.max()):
        count = _hangover_count(envelope >= 10 ** (level_db / 20), hangover)
        gap = 10 * np.log10(energy / count) - level_db if count else -np.inf
        if gap <= P56_MARGIN_DB:  # interpolate the threshold where gap == M; there A = c + M
            frac = (previous[0] - P56_MARGIN_DB) / (previous[0] - gap) if np.isfinite(gap) else 0.0
            return 10 ** ((previous[1] + frac * 0.5 + P56_MARGIN_DB) / 10)
        previous = (gap, level_db)
        level_db += 0.5
    return signal_power(x)


def _hangover_count(above: np.ndarray, hangover: int) -> int:
    """Number of samples that are above threshold or within ``hangover`` samples after such a sample."""
    idx = np.where(above, np.arange(len(above)), -hangover - 1)
    last = np.maximum.accumulate(idx)
    return int(np.count_nonzero(np.arange(len(above)) - last <= hangover))


def speech_level(clean: np.ndarray, method: SnrMethod = "power", sample_rate: int | None = None) -> float:
    """The speech power an SNR is measured against: plain mean square or the P.56 active level."""
    if method == "power":
        return signal_power(clean)
    if method == "active":
        if sample_rate is None:
            raise MixingError("active-speech-level SNR needs the sample rate")
        return active_speech_level(clean, sample_rate)
    raise MixingError(f"unknown SNR method {method!r}; choose one of {', '.join(SNR_METHODS)}")


def snr_db(clean: np.ndarray, noise: np.ndarray, method: SnrMethod = "power",
           sample_rate: int | None = None) -> float:
    """SNR in dB of ``clean`` against ``noise`` (noise always by plain power)."""
    speech, noise_power = speech_level(clean, method, sample_rate), signal_power(noise)
    if speech <= 0.0 or noise_power <= 0.0:
        raise MixingError("SNR undefined: speech or noise is silent")
    return float(10 * np.log10(speech / noise_power))


@dataclass(frozen=True)
class Mixture:
    """A mixture and its parts (float32, ``noisy == clean + noise`` exactly).

    ``noise_scale`` is the factor applied to the input noise to reach the SNR; ``gain`` is the factor applied to
    both clean and noise afterwards to keep the peak at or below the limit (1.0 when nothing was rescaled).
    The noise reference of a mixture must be multiplied by ``noise_scale * gain`` to match its noise.
    """

    clean: np.ndarray
    noise: np.ndarray
    noisy: np.ndarray
    snr_db: float
    noise_scale: float
    gain: float

    @property
    def reference_scale(self) -> float:
        """The factor that brings raw noise (the same process as the input noise) to the mixture's level."""
        return self.noise_scale * self.gain


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, target_snr_db: float, *, method: SnrMethod = "power",
               sample_rate: int | None = None, peak_limit: float | None = 0.99) -> Mixture:
    """Scale ``noise`` so that ``clean`` against it has ``target_snr_db``, and add them.

    If the mixture's peak exceeds ``peak_limit``, clean and noise are both scaled down (never clipped), which
    leaves the SNR unchanged; ``peak_limit=None`` disables this.
    """
    clean = np.asarray(clean, dtype=np.float64)
    noise = np.asarray(noise, dtype=np.float64)
    if clean.shape != noise.shape or clean.ndim != 1:
        raise MixingError(f"clean {clean.shape} and noise {noise.shape} must be 1-D and of equal length")
    speech, noise_power = speech_level(clean, method, sample_rate), signal_power(noise)
    if speech <= 0.0:
        raise MixingError("cannot mix at an SNR: the speech is silent")
    if noise_power <= 0.0:
        raise MixingError("cannot mix at an SNR: the noise is silent")
    scale = float(np.sqrt(speech / (noise_power * 10 ** (target_snr_db / 10))))
    peak = float(np.max(np.abs(clean + scale * noise)))
    gain = 1.0 if peak_limit is None or peak <= peak_limit else peak_limit / peak
    clean32 = (clean * gain).astype(np.float32)
    noise32 = (noise * (scale * gain)).astype(np.float32)
    return Mixture(clean32, noise32, clean32 + noise32, float(target_snr_db), scale, gain)


def equal_power_fades(fade: int) -> tuple[np.ndarray, np.ndarray]:
    """(fade_in, fade_out) quarter-sine ramps of ``fade`` samples whose squares sum to one."""
    t = (np.arange(fade) + 0.5) / max(fade, 1)
    return np.sin(0.5 * np.pi * t), np.cos(0.5 * np.pi * t)


def crossfade_concat(segments: Sequence[np.ndarray], fade: int) -> np.ndarray:
    """Concatenate segments with equal-power cross-fades of ``fade`` samples (keeps the power of uncorrelated
    noises constant through the joins). The result has ``sum(len) - fade * (len(segments) - 1)`` samples."""
    if not segments:
        raise MixingError("nothing to concatenate")
    fade = max(0, min([fade] + [len(s) for s in segments]))
    out = np.asarray(segments[0], dtype=np.float64)
    fade_in, fade_out = equal_power_fades(fade)
    for seg in segments[1:]:
        seg = np.asarray(seg, dtype=np.float64)
        if fade == 0:
            out = np.concatenate([out, seg])
            continue
        joint = out[len(out) - fade:] * fade_out + seg[:fade] * fade_in
        out = np.concatenate([out[:len(out) - fade], joint, seg[fade:]])
    return out.astype(np.float32)


def mix_two_noises(first: np.ndarray, second: np.ndarray, alpha: float) -> np.ndarray:
    """``alpha * first + (1 - alpha) * second`` after bringing both to unit RMS (so alpha is a power share,
    not an accident of the recordings' levels). The plan's Solution D draws alpha uniform in 0.3..0.7."""
    if len(first) != len(second):
        raise MixingError(f"noises of different lengths ({len(first)} and {len(second)}) cannot be mixed")
    a, b = (np.asarray(x, dtype=np.float64) for x in (first, second))
    pa, pb = signal_power(a), signal_power(b)
    if pa <= 0.0 or pb <= 0.0:
        raise MixingError("cannot blend a silent noise")
    return (alpha * a / np.sqrt(pa) + (1 - alpha) * b / np.sqrt(pb)).astype(np.float32)


def draw_alpha(rng: np.random.Generator, low: float = 0.3, high: float = 0.7) -> float:
    """The blend weight of a two-noise mixture, uniform in ``[low, high]`` (plan section 2.4)."""
    return float(rng.uniform(low, high))
