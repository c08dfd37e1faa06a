"""The towers' torchlibrosa front end built by :func:`lean_front_end`: librosa's window and mel filter bank
without reaching librosa for the towers' settings, librosa itself for anything else, and torchlibrosa left as it
was. librosa's filters module is imported for the comparison (1 s); its ``util`` would load numba kernels."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ncse_cli.encoders import front_end
from ncse_cli.encoders.front_end import LIBROSA_STAND_IN, lean_front_end

stft = pytest.importorskip("torchlibrosa.stft")

#: The towers' settings: Cnn14 (32 kHz) and HTS-AT (48 kHz).
SETTINGS = [dict(sr=32000, n_fft=1024, n_mels=64, fmin=50, fmax=14000),
            dict(sr=48000, n_fft=1024, n_mels=64, fmin=50, fmax=14000)]


class _Unreachable:
    def __getattr__(self, name):
        raise AssertionError(f"librosa.{name} was reached")


@pytest.mark.parametrize("settings", SETTINGS, ids=["cnn14", "htsat"])
def test_the_towers_front_end_has_librosas_window_and_mel_bank_without_reaching_librosa(settings, monkeypatch):
    filters = pytest.importorskip("librosa.filters")
    n_fft = settings["n_fft"]
    window, bank = filters.get_window("hann", n_fft, fftbins=True), filters.mel(**settings)
    monkeypatch.setattr(stft, "librosa", _Unreachable())  # what torchlibrosa would reach without the swap
    monkeypatch.setattr(front_end, "_librosa", lambda submodule="": _Unreachable())  # and the stand-in's fallback
    with lean_front_end():
        spec = stft.Spectrogram(n_fft=n_fft, hop_length=n_fft // 4)
        mel = stft.LogmelFilterBank(**settings)
    np.testing.assert_allclose(LIBROSA_STAND_IN.filters.get_window("hann", n_fft), window, rtol=0, atol=1e-15)
    dft = stft.DFTBase().dft_matrix(n_fft)[:, : n_fft // 2 + 1]
    for name, part in (("conv_real", np.real), ("conv_imag", np.imag)):  # torchlibrosa's weights: DFT x window
        expected = torch.tensor(part(dft * window[:, None]).T, dtype=torch.float32)[:, None, :]
        torch.testing.assert_close(getattr(spec.stft, name).weight, expected, rtol=0, atol=1e-7)
    assert mel.melW.shape == (1 + n_fft // 2, settings["n_mels"])
    torch.testing.assert_close(mel.melW, torch.from_numpy(bank.T), rtol=0, atol=2e-6 * float(bank.max()))
    assert ((mel.melW > 0) == torch.from_numpy(bank.T > 0)).all()  # the same bins in every triangle


def test_a_shorter_window_is_centred_with_zeros():
    window = np.arange(1.0, 6.0)
    np.testing.assert_array_equal(LIBROSA_STAND_IN.util.pad_center(window, size=8), [0, 1, 2, 3, 4, 5, 0, 0])


def test_other_windows_pads_mel_options_and_functions_go_to_librosa(monkeypatch):
    calls = []

    def record(kind):
        return lambda *args, **kwargs: calls.append((kind, args, kwargs)) or kind

    fake = {"filters": SimpleNamespace(get_window=record("window"), mel=record("mel"),
                                       window_sumsquare=record("sumsquare")),
            "util": SimpleNamespace(pad_center=record("pad")), "": SimpleNamespace(power_to_db=record("db"))}
    monkeypatch.setattr(front_end, "_librosa", lambda submodule="": fake[submodule])
    assert LIBROSA_STAND_IN.filters.get_window("hamming", 64) == "window"
    assert LIBROSA_STAND_IN.filters.get_window("hann", 64, fftbins=False) == "window"
    assert LIBROSA_STAND_IN.filters.get_window(np.ones(64), 64) == "window"  # a window given as an array
    assert LIBROSA_STAND_IN.util.pad_center(np.ones(9), size=8) == "pad"  # librosa's error for a longer window
    assert LIBROSA_STAND_IN.util.pad_center(np.ones((2, 4)), size=8) == "pad"
    assert LIBROSA_STAND_IN.filters.mel(sr=16000, n_fft=64, htk=True) == "mel"
    assert LIBROSA_STAND_IN.filters.mel(sr=22050.5, n_fft=64) == "mel"
    assert LIBROSA_STAND_IN.filters.mel(sr=16000, n_fft=63) == "mel"  # librosa's bins stop short of sr / 2
    assert LIBROSA_STAND_IN.filters.window_sumsquare() == "sumsquare" and LIBROSA_STAND_IN.power_to_db() == "db"
    assert [kind for kind, _, _ in calls] == ["window"] * 3 + ["pad"] * 2 + ["mel"] * 3 + ["sumsquare", "db"]
    assert calls[5][2] == dict(sr=16000, n_fft=64, n_mels=128, fmin=0.0, fmax=8000.0, htk=True)


def test_dft_matrices_are_computed_once_per_size_and_torchlibrosa_is_restored_after_nesting_and_errors():
    own = {name: stft.DFTBase.__dict__[name] for name in ("dft_matrix", "idft_matrix")}
    own_librosa = stft.librosa
    base = stft.DFTBase()
    with pytest.raises(RuntimeError, match="inside"), lean_front_end():
        first, again, inverse = base.dft_matrix(64), base.dft_matrix(64), base.idft_matrix(64)
        with lean_front_end():
            assert base.dft_matrix(64) is first
        assert stft.librosa is LIBROSA_STAND_IN and stft.DFTBase.__dict__["dft_matrix"] is not own["dft_matrix"]
        raise RuntimeError("inside")
    assert first is again and not first.flags.writeable
    np.testing.assert_array_equal(first, own["dft_matrix"](base, 64))
    np.testing.assert_array_equal(inverse, own["idft_matrix"](base, 64))
    assert {name: stft.DFTBase.__dict__[name] for name in own} == own and stft.librosa is own_librosa
