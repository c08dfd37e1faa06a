"""Audio that is never held whole: a file read as a mono signal one slice at a time, resampled slice by slice
exactly as the whole file would be, and a stream of blocks resampled as it arrives.

A long recording is enhanced window by window (:mod:`ncse_cli.chunking`); its input must reach the model's rate and
its output go back to the file's rate without either ever being in memory at once.

Why a slice can be resampled exactly: the toolkit's one resampler (:data:`ncse_cli.audio.RESAMPLER`, torchaudio's
windowed sinc) is a strided convolution. With both rates divided by their greatest common divisor (``orig`` and
``new``), its output comes in groups of ``new`` samples, and group ``k`` reads only the input samples
``[k * orig - width, (k + 1) * orig + width)`` (zeros outside the signal), where ``width`` depends only on the
two rates. So the output samples ``[start, stop)`` are computed from an input slice that begins at a multiple of
``orig`` at least ``width`` before them and ends ``width`` after them (:func:`resample_span`), and equal the
corresponding samples of the whole signal's resampling up to float rounding. :class:`ResampledSignal` offers any
slice of a resampled signal that way; :func:`resample_blocks` resamples consecutive blocks, giving out each
output group once the input it reads has arrived.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

import numpy as np
import soundfile as sf

from ncse_cli.audio import RESAMPLER, AudioError, resample_audio

log = logging.getLogger("ncse")

#: Samples read at a time when a whole file is scanned (its peak, its validity): 10 s at 48 kHz.
SCAN_BLOCK = 480_000


class Sliceable(Protocol):
    """A 1-D signal that need not be in memory: its length, and ``signal[start:stop]`` as an array."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: slice) -> Any: ...


@dataclass(frozen=True)
class Geometry:
    """How :data:`ncse_cli.audio.RESAMPLER` maps ``orig`` input samples to ``new`` output samples (both rates
    divided by their greatest common divisor), and how far (``width``) each output group reads on either side."""

    orig: int
    new: int
    width: int

    @property
    def context(self) -> int:
        """The smallest multiple of ``orig`` that is at least ``width``: where an input slice starts, before the
        first output group it serves."""
        return -(-self.width // self.orig) * self.orig

    def out_length(self, length: int) -> int:
        """Output samples of a ``length``-sample input (torchaudio's ``ceil(new * length / orig)``)."""
        return -(-self.new * length // self.orig)


def geometry(orig_rate: int, new_rate: int) -> Geometry:
    """The :class:`Geometry` of resampling from ``orig_rate`` to ``new_rate``; ``width`` as torchaudio computes it
    (``ceil(lowpass_filter_width * orig / (min(orig, new) * rolloff))``), plus one sample against float rounding."""
    g = math.gcd(orig_rate, new_rate)
    orig, new = orig_rate // g, new_rate // g
    width = math.ceil(RESAMPLER["lowpass_filter_width"] * orig / (min(orig, new) * RESAMPLER["rolloff"]))
    return Geometry(orig, new, width + 1)


def resample_span(read: Callable[[int, int], np.ndarray], length: int, orig_rate: int, new_rate: int,
                  start: int, stop: int) -> np.ndarray:
    """Samples ``[start, stop)`` of the resampling of a ``length``-sample input to ``new_rate``, reading only
    the input slice they depend on: ``read(a, b)`` returns input samples ``[a, b)``."""
    if orig_rate == new_rate:
        return np.asarray(read(start, stop), dtype=np.float32)
    geo = geometry(orig_rate, new_rate)
    first, last = start // geo.new, -(-stop // geo.new)  # the output groups holding [start, stop)
    begin = max(0, first * geo.orig - geo.context)  # a multiple of orig: group boundaries stay aligned
    end = min(length, last * geo.orig + geo.width)
    out = resample_audio(np.asarray(read(begin, end), dtype=np.float32), orig_rate, new_rate)
    offset = begin // geo.orig * geo.new
    return out[start - offset:stop - offset]


class ResampledSignal:
    """A :class:`Sliceable` at ``new_rate`` over a :class:`Sliceable` at ``orig_rate``: each slice is resampled
    from the input slice it depends on alone, and equals that slice of the whole signal's resampling."""

    def __init__(self, source: Sliceable, orig_rate: int, new_rate: int) -> None:
        self.source, self.orig_rate, self.new_rate = source, orig_rate, new_rate
        self._length = geometry(orig_rate, new_rate).out_length(len(source))

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: slice) -> np.ndarray:
        start, stop, step = index.indices(self._length)
        if step != 1:
            raise ValueError("a resampled signal is sliced with step 1 only")
        return resample_span(lambda a, b: self.source[a:b], len(self.source), self.orig_rate, self.new_rate,
                             start, max(start, stop))


def resample_blocks(blocks: Iterable[np.ndarray], length: int, orig_rate: int,
                    new_rate: int) -> Iterator[np.ndarray]:
    """The resampling of the concatenation of ``blocks`` (together ``length`` samples) to ``new_rate``, given out
    in consecutive pieces as soon as the input they read has arrived; holds one block plus the filter's context."""
    geo = geometry(orig_rate, new_rate)
    total = geo.out_length(length)
    buffer, buffer_start, received, done = np.zeros(0, np.float32), 0, 0, 0
    for block in blocks:
        received += len(block)
        if received > length:
            raise ValueError(f"blocks hold more than the {length} samples announced")
        if orig_rate == new_rate:
            yield np.asarray(block, dtype=np.float32)
            continue
        buffer = np.concatenate([buffer, np.asarray(block, dtype=np.float32)])
        ready = total if received == length else min(total, max(0, (received - geo.width) // geo.orig) * geo.new)
        if ready > done:
            held, offset = buffer, buffer_start
            yield resample_span(lambda a, b: held[a - offset:b - offset], length, orig_rate, new_rate, done, ready)
            done = ready
            keep = max(0, done // geo.new * geo.orig - geo.context)
            buffer, buffer_start = buffer[keep - buffer_start:], keep
    if received != length:
        raise ValueError(f"blocks hold {received} samples, {length} were announced")


def fit_blocks(blocks: Iterable[np.ndarray], length: int) -> Iterator[np.ndarray]:
    """``blocks`` cut or zero-padded to ``length`` samples in all (resampling there and back can be a sample
    off): the block-wise :func:`ncse_cli.inference.outputs.fit_length`."""
    left = length
    for block in blocks:
        piece = block[:max(left, 0)]
        left -= len(piece)
        if len(piece):
            yield piece
    if left > 0:
        yield np.zeros(left, dtype=np.float32)


class AudioFileSignal:
    """A sound file as a mono float32 :class:`Sliceable` read slice by slice (channels averaged as
    :func:`ncse_cli.audio.load_audio` does); a slice with NaN or infinite samples is an error naming the file.
    Use it as a context manager, which closes the file."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise AudioError(f"{self.path}: no such audio file")
        try:
            self._file = sf.SoundFile(str(self.path))
        except (sf.LibsndfileError, RuntimeError, TypeError) as err:
            raise AudioError(f"{self.path}: not a readable audio file ({err})") from None
        self.sample_rate, self.channels, self.frames = int(self._file.samplerate), self._file.channels, self._file.frames

    def __len__(self) -> int:
        return self.frames

    def __getitem__(self, index: slice) -> np.ndarray:
        start, stop, step = index.indices(self.frames)
        if step != 1:
            raise ValueError("an audio file is sliced with step 1 only")
        try:
            self._file.seek(start)
            data = self._file.read(max(0, stop - start), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as err:
            raise AudioError(f"{self.path}: not a readable audio file ({err})") from None
        samples = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
        if not np.all(np.isfinite(samples)):
            raise AudioError(f"{self.path}: contains NaN or infinite samples")
        return np.ascontiguousarray(samples, dtype=np.float32)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "AudioFileSignal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_slices(signal: Sliceable, block: int = SCAN_BLOCK) -> Iterator[np.ndarray]:
    """Consecutive slices of ``signal`` of ``block`` samples (the last one shorter)."""
    for start in range(0, len(signal), block):
        yield np.asarray(signal[start:start + block], dtype=np.float32)


def signal_peak(signal: Sliceable, block: int = SCAN_BLOCK) -> float:
    """The peak magnitude of ``signal``, read ``block`` samples at a time."""
    return max((float(np.abs(piece).max()) for piece in iter_slices(signal, block) if len(piece)), default=0.0)


def scan_audio(path: str | os.PathLike, min_samples: int = 1) -> tuple[int, int]:
    """``(sample_rate, frames)`` of a file checked as :func:`ncse_cli.audio.load_audio` checks it (it exists,
    decodes, holds finite samples, at least ``min_samples``), reading it a block at a time."""
    with AudioFileSignal(path) as signal:
        if signal.channels > 1:
            log.warning("%s: %d channels mixed down to mono", signal.path, signal.channels)
        for _ in iter_slices(signal):
            pass
        if len(signal) < min_samples:
            what = "empty" if len(signal) == 0 else f"too short ({len(signal)} samples, need {min_samples})"
            raise AudioError(f"{signal.path}: {what}")
        return signal.sample_rate, len(signal)
