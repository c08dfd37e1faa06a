"""The pre-trained towers' torchlibrosa front end (the ``Spectrogram`` and ``LogmelFilterBank`` of PANNs Cnn14,
Kong et al., TASLP 2020, and of CLAP's HTS-AT), built without its two costs: librosa and the DFT powers.

Building those two modules calls ``librosa.filters.get_window``, ``librosa.util.pad_center`` and
``librosa.filters.mel``. Reaching them imports librosa's core, SciPy's signal package and numba, and loads (on the
first use after an install: compiles) librosa's numba kernels: 3.5 s of one CPU thread in every process that
builds a tower (training, each model load, each evaluation), about 25 s the first time after an install. And
``DFTBase.dft_matrix`` raises a complex number to 1024 x 1024 powers, 0.3 s at every build.

:func:`lean_front_end` removes both while towers are built. Whatever values it gives are overwritten by every
weights file a tower loads (the official checkpoints, a model directory's ``model.safetensors`` and a training
checkpoint's ``frozen.safetensors`` all hold the front end's matrices), so they only shape a tower that keeps its
random initialisation.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import types
from typing import Any, Callable, Iterator

import numpy as np
import torch

#: torchlibrosa's DFT matrices by (kind, size), read-only, for :func:`lean_front_end`.
_DFT_MATRICES: dict[tuple[str, int], Any] = {}
#: Held while :func:`lean_front_end` is active: towers built from several threads are built one at a time.
_BUILDING = threading.RLock()


def _librosa(submodule: str = "") -> types.ModuleType:
    return importlib.import_module("librosa" + (f".{submodule}" if submodule else ""))


def get_window(window: Any, n: int, *, fftbins: bool = True) -> np.ndarray:
    """``librosa.filters.get_window``: the periodic Hann window from ``torch.hann_window`` (the towers' window,
    equal to SciPy's to 2e-16), any other window from librosa itself."""
    if isinstance(window, str) and window == "hann" and fftbins and int(n) >= 1:
        return torch.hann_window(int(n), periodic=True, dtype=torch.float64).numpy()
    return _librosa("filters").get_window(window, n, fftbins=fftbins)


def pad_center(data: np.ndarray, *, size: int, **kwargs: Any) -> np.ndarray:
    """``librosa.util.pad_center`` of a 1-D window with zeros (``(size - n) // 2`` on the left), anything else by
    librosa itself."""
    n = data.shape[-1]
    if data.ndim != 1 or kwargs or size < n:
        return _librosa("util").pad_center(data, size=size, **kwargs)
    left = (size - n) // 2
    return np.pad(data, (left, size - n - left))


def mel(*, sr: float, n_fft: int, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None,
        **kwargs: Any) -> np.ndarray:
    """``librosa.filters.mel`` with its defaults (Slaney mel scale, Slaney area normalisation), ``[n_mels,
    1 + n_fft // 2]`` float32, from ``torchaudio.functional.melscale_fbanks``: at the towers' settings within 2e-6
    of librosa's, relative to its largest weight, with the same bins in every triangle. Other options (``htk``,
    ``norm``, ``dtype``), an odd rate or an odd ``n_fft`` go to librosa itself."""
    fmax = float(sr) / 2 if fmax is None else fmax
    # torchaudio spaces its bins evenly up to sr // 2; librosa's (rfftfreq) stop short of sr / 2 for an odd n_fft
    if kwargs or float(sr) != int(sr) or int(sr) % 2 or n_fft % 2:
        return _librosa("filters").mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, **kwargs)
    from torchaudio.functional import melscale_fbanks

    bank = melscale_fbanks(1 + n_fft // 2, float(fmin), float(fmax), n_mels, int(sr), norm="slaney",
                           mel_scale="slaney")
    return bank.T.contiguous().numpy().astype(np.float32)


class _StandIn(types.SimpleNamespace):
    """A librosa module as torchlibrosa sees it: the functions given, every other attribute from librosa."""

    def __init__(self, submodule: str, **functions: Any) -> None:
        super().__init__(**functions)
        self._submodule = submodule

    def __getattr__(self, name: str) -> Any:  # only called for what the stand-in does not define
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(_librosa(self._submodule), name)


#: What torchlibrosa's ``stft`` module sees as ``librosa`` inside :func:`lean_front_end`.
LIBROSA_STAND_IN = _StandIn("", filters=_StandIn("filters", get_window=get_window, mel=mel),
                            util=_StandIn("util", pad_center=pad_center))


def _memoised(method: Callable[[Any, int], Any], kind: str) -> Callable[[Any, int], Any]:
    def matrix(self: Any, n: int) -> Any:
        key = (kind, int(n))
        if key not in _DFT_MATRICES:
            array = method(self, n)
            array.flags.writeable = False  # torchlibrosa only reads it; its convolution weights are copies
            _DFT_MATRICES[key] = array
        return _DFT_MATRICES[key]
    return matrix


@contextlib.contextmanager
def lean_front_end() -> Iterator[None]:
    """Build towers whose torchlibrosa front end takes its window and mel filter bank from torch and torchaudio
    (:data:`LIBROSA_STAND_IN`; librosa for anything else) and reuses the DFT matrices of earlier builds:
    ``dft_matrix`` and ``idft_matrix`` return the array torchlibrosa's own method computed on first use for that
    size, made read-only. It swaps the ``librosa`` of ``torchlibrosa.stft`` and two methods of its ``DFTBase``,
    and puts them back on exit; builds in other threads wait for it. Without torchlibrosa it does nothing."""
    try:
        from torchlibrosa import stft
    except ImportError:
        yield
        return
    with _BUILDING:
        saved = {name: stft.DFTBase.__dict__[name] for name in ("dft_matrix", "idft_matrix")}
        saved_librosa = stft.librosa
        for name, method in saved.items():
            setattr(stft.DFTBase, name, _memoised(method, name))
        stft.librosa = LIBROSA_STAND_IN
        try:
            yield
        finally:
            stft.librosa = saved_librosa
            for name, method in saved.items():
                setattr(stft.DFTBase, name, method)


__all__ = ["LIBROSA_STAND_IN", "lean_front_end"]
