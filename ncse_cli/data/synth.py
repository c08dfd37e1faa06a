"""Synthetic speech-like signals and synthetic noises, so the toolkit runs with no download.

Speech follows the classic source-filter model (Fant 1960; Klatt 1980, "Software for a cascade/parallel formant
synthesizer"): a band-limited glottal pulse train with a moving pitch contour drives a cascade of second-order
formant resonators whose targets move from vowel to vowel; unvoiced fricatives are band-passed noise bursts; a
syllable-rate envelope with word pauses shapes the whole. Talkers differ by mean pitch and vocal-tract length
(formant scale). Vowel formant targets are the adult-male averages of Peterson & Barney (1952).

Noises: white, pink (1/f power), brown (1/f^2 power), babble (several other synthetic talkers), tonal mains hum
and impulsive clicks. Every generator takes a ``numpy.random.Generator`` so output is reproducible, and returns
float32 at unit RMS (levels are set later by :mod:`ncse_cli.data.mixing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import signal

from ncse_cli.registry import Registry

try:  # the compiled kernel behind signal.sosfilt, without its per-call checks and copies (see _formant_filter)
    from scipy.signal._sosfilt import _sosfilt as _sosfilt_kernel
except ImportError:  # pragma: no cover - a SciPy that moved it: signal.sosfilt gives the same numbers, slower
    _sosfilt_kernel = None

#: Bumped whenever generated signals change, so prepared corpora made by an older generator are rebuilt.
SYNTH_VERSION = 1

NoiseFn = Callable[[int, int, np.random.Generator], np.ndarray]

#: Synthetic noise generators: ``fn(num_samples, sample_rate, rng) -> float32 waveform at unit RMS``.
SYNTH_NOISES: Registry[NoiseFn] = Registry("synthetic noise")
#: Synthetic sudden events (for non-stationary test sets): same signature, a short burst-like waveform.
SYNTH_EVENTS: Registry[NoiseFn] = Registry("synthetic event")

#: (F1, F2, F3) in Hz for ten American-English vowels, Peterson & Barney (1952), adult male means.
VOWEL_FORMANTS = np.array([
    [270, 2290, 3010], [390, 1990, 2550], [530, 1840, 2480], [660, 1720, 2410], [730, 1090, 2440],
    [570, 840, 2410], [440, 1020, 2240], [300, 870, 2240], [640, 1190, 2390], [490, 1350, 1690],
], dtype=np.float64)
FORMANT_BANDWIDTHS = np.array([80.0, 100.0, 140.0])
#: Fricative pass bands in Hz (roughly /s/, /sh/, /f/, /h/).
FRICATIVE_BANDS = ((4000.0, 7500.0), (2200.0, 5000.0), (1200.0, 7000.0), (500.0, 3500.0))
_BLOCK_SECONDS = 0.005  # formant coefficients are updated every 5 ms


@dataclass(frozen=True)
class Talker:
    """A synthetic speaker: mean pitch, vocal-tract formant scale and speaking rate (syllables per second)."""

    name: str
    f0_hz: float
    formant_scale: float
    rate: float = 4.0


def make_talkers(count: int, rng: np.random.Generator, prefix: str = "talker") -> list[Talker]:
    """``count`` talkers spread over low (male-like) to high (female/child-like) voices."""
    position = (np.arange(count) + rng.uniform(0.2, 0.8, count)) / max(count, 1)
    f0 = 95.0 * (2.4 ** position)  # 95 .. 230 Hz, geometric
    scale = 0.92 + 0.28 * position + rng.uniform(-0.03, 0.03, count)
    rate = rng.uniform(3.2, 5.0, count)
    order = rng.permutation(count)
    return [Talker(f"{prefix}{i:02d}", float(f0[j]), float(scale[j]), float(rate[j])) for i, j in enumerate(order)]


@dataclass
class _Plan:
    """Per-sample control tracks of one utterance."""

    voiced: np.ndarray  # voicing amplitude envelope
    f0: np.ndarray  # pitch track in Hz
    fric: list[tuple[int, int, int]]  # (start, length, band index) of fricative bursts
    formants: np.ndarray  # [num_blocks, 3] formant frequencies per block


def synth_speech(talker: Talker, num_samples: int, sample_rate: int, rng: np.random.Generator,
                 level_db: float = -26.0) -> np.ndarray:
    """One speech-like utterance of exactly ``num_samples`` samples, RMS at about ``level_db`` dBFS."""
    plan = _plan_utterance(talker, num_samples, sample_rate, rng)
    source = _glottal_source(plan.f0, sample_rate, rng)
    voiced = _formant_filter(source * plan.voiced, plan.formants, sample_rate)
    speech = voiced + _fricatives(plan.fric, num_samples, sample_rate, rng)
    rms = np.sqrt(np.mean(speech ** 2)) + 1e-12
    gain = 10 ** ((level_db + rng.uniform(-3.0, 3.0)) / 20) / rms
    return (speech * gain).astype(np.float32)


def _plan_utterance(talker: Talker, n: int, sr: int, rng: np.random.Generator) -> _Plan:
    voiced = np.zeros(n)
    centers, f0_points, vowels, fric = [], [], [], []
    pos = int(sr * rng.uniform(0.08, 0.25))
    end = n - int(sr * rng.uniform(0.08, 0.2))
    syllable = 1.0 / talker.rate
    while pos < end - int(0.1 * sr):
        for _ in range(rng.integers(1, 4)):  # a word of one to three syllables
            if rng.random() < 0.45:  # onset fricative
                length = int(sr * rng.uniform(0.04, 0.1))
                fric.append((pos, length, int(rng.integers(len(FRICATIVE_BANDS)))))
                pos += int(length * 0.8)
            length = int(sr * syllable * rng.uniform(0.45, 0.9))
            length = min(length, end - pos)
            if length < int(0.04 * sr):
                break
            voiced[pos:pos + length] += signal.windows.tukey(length, 0.35) * rng.uniform(0.6, 1.0)
            centers.append(pos + length / 2)
            f0_points.append(talker.f0_hz * np.exp(rng.normal(0.0, 0.09)))
            vowels.append(int(rng.integers(len(VOWEL_FORMANTS))))
            pos += length + int(sr * rng.uniform(0.0, 0.04))
        pos += int(sr * (rng.uniform(0.3, 0.55) if rng.random() < 0.2 else rng.uniform(0.05, 0.2)))
    return _Plan(voiced, _pitch_track(talker, n, centers, f0_points), [f for f in fric if f[0] < n],
                 _formant_tracks(talker, n, sr, centers, vowels, rng))


def _pitch_track(talker: Talker, n: int, centers: list[float], points: list[float]) -> np.ndarray:
    if not centers:
        return np.full(n, talker.f0_hz)
    t = np.arange(n)
    declination = 1.0 + 0.12 * (0.5 - t / n)  # pitch falls over the utterance
    return np.interp(t, centers, points) * declination


def _formant_tracks(talker: Talker, n: int, sr: int, centers: list[float], vowels: list[int],
                    rng: np.random.Generator) -> np.ndarray:
    block = max(1, int(sr * _BLOCK_SECONDS))
    block_centers = np.arange(0, n, block) + block / 2
    if not centers:
        return np.tile(VOWEL_FORMANTS[8] * talker.formant_scale, (len(block_centers), 1))
    targets = VOWEL_FORMANTS[vowels] * talker.formant_scale * rng.uniform(0.95, 1.05, (len(vowels), 3))
    tracks = np.stack([np.interp(block_centers, centers, targets[:, k]) for k in range(3)], axis=1)
    return np.minimum(tracks, 0.45 * sr)


def _glottal_source(f0: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Band-limited pulse train (closed-form Dirichlet kernel, all harmonics below 0.45 sr), glottal tilt."""
    f0 = f0 * (1.0 + 0.004 * rng.standard_normal(len(f0)))  # jitter
    phase = 2 * np.pi * np.cumsum(f0) / sr
    harmonics = np.floor(0.45 * sr / f0)
    half = np.mod(phase, 2 * np.pi) / 2
    den = np.sin(half)
    safe = np.where(np.abs(den) < 1e-9, 1.0, den)
    pulses = np.where(np.abs(den) < 1e-9, harmonics, np.sin((harmonics + 0.5) * 2 * half) / (2 * safe) - 0.5)
    tilt = signal.lfilter([1.0], [1.0, -0.94], signal.lfilter([1.0], [1.0, -0.6], pulses / np.sqrt(harmonics)))
    aspiration = 0.08 * rng.standard_normal(len(f0)) * np.std(tilt)
    return tilt + aspiration


def formant_sections(formants: np.ndarray, sr: int) -> np.ndarray:
    """Second-order sections ``[blocks, 3, 6]`` of three unit-DC-gain resonators (Klatt 1980) per block of
    formant frequencies ``[blocks, 3]``: ``b = (1 + a1 + a2, 0, 0)``, ``a = (1, a1, a2)``."""
    radius = np.exp(-np.pi * FORMANT_BANDWIDTHS / sr)
    theta = 2 * np.pi * np.asarray(formants, dtype=np.float64) / sr
    sos = np.zeros(theta.shape + (6,))
    sos[..., 4], sos[..., 5] = -2 * radius * np.cos(theta), radius ** 2
    sos[..., 0], sos[..., 3] = 1 + sos[..., 4] + sos[..., 5], 1.0
    return sos


def _formant_filter(x: np.ndarray, formants: np.ndarray, sr: int, fast: bool = True) -> np.ndarray:
    """Cascade of three unit-DC-gain resonators (Klatt 1980) whose centre frequencies change every block.

    A 5 ms block is 80 samples at 16 kHz, so ``signal.sosfilt``'s per-call checks and copies cost 15 times the
    filtering itself; SciPy's kernel behind it (same code, same numbers) filters each block in place instead.
    ``fast=False`` takes ``signal.sosfilt`` (tests compare the two)."""
    block = max(1, int(sr * _BLOCK_SECONDS))
    sos = formant_sections(formants, sr)
    if fast and _sosfilt_kernel is not None:
        out = np.array(x, dtype=np.float64)[None]  # [1, n]: the kernel filters rows in place
        zi = np.zeros((1, 3, 2))
        for b in range(len(sos)):
            _sosfilt_kernel(sos[b], out[:, b * block:(b + 1) * block], zi)
        return out[0].astype(x.dtype, copy=False)
    out, zi = np.empty_like(x), np.zeros((3, 2))
    for b in range(len(sos)):
        out[b * block:(b + 1) * block], zi = signal.sosfilt(sos[b], x[b * block:(b + 1) * block], zi=zi)
    return out


def _fricatives(bursts: list[tuple[int, int, int]], n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n)
    for start, length, band in bursts:
        length = min(length, n - start)
        high = min(FRICATIVE_BANDS[band][1], 0.45 * sr)  # low sample rates keep a band below Nyquist
        low = FRICATIVE_BANDS[band][0] if FRICATIVE_BANDS[band][0] < high else 0.5 * high
        sos = signal.butter(4, [low, high], btype="bandpass", fs=sr, output="sos")
        burst = signal.sosfilt(sos, rng.standard_normal(length)) * signal.windows.tukey(length, 0.6)
        out[start:start + length] += burst * rng.uniform(0.15, 0.35)
    return out


def _unit_rms(x: np.ndarray) -> np.ndarray:
    return (x / (np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)).astype(np.float32)


def _colored(num_samples: int, rng: np.random.Generator, exponent: float, sr: int) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f**exponent (shaped in the frequency domain), no DC."""
    spectrum = np.fft.rfft(rng.standard_normal(num_samples))
    freqs = np.fft.rfftfreq(num_samples, 1.0 / sr)
    shape = np.maximum(freqs, 20.0) ** (-exponent / 2)
    shape[0] = 0.0
    return _unit_rms(np.fft.irfft(spectrum * shape, n=num_samples))


@SYNTH_NOISES.register("white")
def white_noise(num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white noise."""
    return _unit_rms(rng.standard_normal(num_samples))


@SYNTH_NOISES.register("pink")
def pink_noise(num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Pink noise: power falls 3 dB per octave (1/f)."""
    return _colored(num_samples, rng, 1.0, sample_rate)


@SYNTH_NOISES.register("brown")
def brown_noise(num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Brown (Brownian) noise: power falls 6 dB per octave (1/f^2), flattened below 20 Hz."""
    return _colored(num_samples, rng, 2.0, sample_rate)


@SYNTH_NOISES.register("babble")
def babble_noise(num_samples: int, sample_rate: int, rng: np.random.Generator, talkers: int = 6) -> np.ndarray:
    """Babble: several freshly drawn synthetic talkers speaking at once (none of the corpus talkers)."""
    voices = make_talkers(talkers, rng, prefix="babble")
    mix = sum(synth_speech(v, num_samples, sample_rate, rng) for v in voices)
    return _unit_rms(mix)


@SYNTH_NOISES.register("hum")
def hum_noise(num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Tonal mains hum (50 or 60 Hz and harmonics, slowly drifting) over a faint pink floor."""
    base = (50.0 if rng.random() < 0.5 else 60.0) * (1 + 0.002 * rng.standard_normal())
    t = np.arange(num_samples) / sample_rate
    k = np.arange(1, 13)[:, None]
    amplitude = (k ** -0.8) * rng.uniform(0.3, 1.0, (12, 1))
    tones = (amplitude * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 2 * np.pi, (12, 1)))).sum(axis=0)
    tones *= 1.0 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t)
    return _unit_rms(_unit_rms(tones) + 0.05 * _colored(num_samples, rng, 1.0, sample_rate))


@SYNTH_NOISES.register("clicks")
def click_noise(num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Impulsive clicks (Poisson times, 2-8 per second, decaying noise kernels) over a faint pink floor."""
    impulses = np.zeros(num_samples)
    count = rng.poisson(rng.uniform(2.0, 8.0) * num_samples / sample_rate) + 1
    impulses[rng.integers(0, num_samples, count)] = rng.uniform(0.3, 1.0, count) * rng.choice([-1, 1], count)
    kernel_len = int(0.02 * sample_rate)
    kernel = rng.standard_normal(kernel_len) * np.exp(-np.arange(kernel_len) / (0.003 * sample_rate))
    clicks = signal.fftconvolve(impulses, kernel)[:num_samples]
    return _unit_rms(_unit_rms(clicks) + 0.03 * _colored(num_samples, rng, 1.0, sample_rate))


@SYNTH_NOISES.register("tones")
def tone_noise(num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Machine whine: two to five steady tones at random frequencies in the speech band (150 Hz to 4 kHz,
    log-uniform) with random levels, over a faint pink floor. Without a reference a steady tone is hard to tell
    from a voiced harmonic; its spectrum in a reference gives it away."""
    t = np.arange(num_samples) / sample_rate
    count = int(rng.integers(2, 6))
    freqs = np.exp(rng.uniform(np.log(150.0), np.log(4000.0), (count, 1)))
    levels = rng.uniform(0.3, 1.0, (count, 1))
    tones = (levels * np.sin(2 * np.pi * freqs * t + rng.uniform(0, 2 * np.pi, (count, 1)))).sum(axis=0)
    return _unit_rms(_unit_rms(tones) + 0.05 * _colored(num_samples, rng, 1.0, sample_rate))


@SYNTH_NOISES.register("band")
def band_noise(num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Band-limited noise (a fan, a motor, a hiss): Gaussian noise in a band of a third of an octave to two
    octaves around a random centre (200 Hz to 5 kHz, log-uniform)."""
    centre = np.exp(rng.uniform(np.log(200.0), np.log(5000.0)))
    half_width = 2.0 ** (rng.uniform(1 / 3, 2.0) / 2)
    spectrum = np.fft.rfft(rng.standard_normal(num_samples))
    freqs = np.fft.rfftfreq(num_samples, 1.0 / sample_rate)
    spectrum[(freqs < centre / half_width) | (freqs > min(centre * half_width, sample_rate / 2))] = 0.0
    return _unit_rms(np.fft.irfft(spectrum, n=num_samples))


@SYNTH_EVENTS.register("burst")
def noise_burst(num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A band-passed noise burst with a sharp attack and exponential decay (a slam, a crash)."""
    low = rng.uniform(200.0, 1500.0)
    sos = signal.butter(2, [low, min(low * rng.uniform(3, 8), 0.45 * sample_rate)], btype="bandpass",
                        fs=sample_rate, output="sos")
    decay = np.exp(-np.arange(num_samples) / (rng.uniform(0.03, 0.12) * sample_rate))
    return _unit_rms(signal.sosfilt(sos, rng.standard_normal(num_samples)) * decay)


@SYNTH_EVENTS.register("knock")
def knock(num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Two to four damped low resonances in quick succession (a knock on a door)."""
    out = np.zeros(num_samples)
    t = np.arange(num_samples) / sample_rate
    freq = rng.uniform(120.0, 400.0)
    for start in np.cumsum(rng.uniform(0.08, 0.2, rng.integers(2, 5))) - 0.08:
        tt = t - start
        ring = np.sin(2 * np.pi * freq * tt) * np.exp(-np.clip(tt, 0, None) / 0.02)
        out += np.where(tt >= 0, ring, 0.0)
    return _unit_rms(out)


def synth_noise(kind: str, num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic noise of a registered ``kind`` (see :data:`SYNTH_NOISES`), unit RMS."""
    return SYNTH_NOISES.get(kind)(num_samples, sample_rate, rng)


def synth_event(kind: str, num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic sudden event of a registered ``kind`` (see :data:`SYNTH_EVENTS`), unit RMS."""
    return SYNTH_EVENTS.get(kind)(num_samples, sample_rate, rng)
