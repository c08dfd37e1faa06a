import math

import pytest
import torch

from ncse_cli.stft import Spectrogram, STFTConfig, peak_normalize


def test_sgmse_defaults():
    cfg = STFTConfig()
    assert (cfg.n_fft, cfg.hop_length, cfg.alpha, cfg.beta, cfg.freq_bins) == (510, 128, 0.5, 0.15, 256)


@pytest.mark.parametrize("length", [4000, 16000, 16001])
def test_round_trip_error_below_1e5(length):
    spec = Spectrogram()
    wav = torch.randn(2, length, generator=torch.Generator().manual_seed(length)) * 0.3
    X = spec(wav)
    assert X.shape == (2, 1, 256, 1 + length // 128) and X.dtype == torch.complex64
    assert spec.num_frames(length) == X.shape[-1]
    back = spec.inverse(X, length)
    assert back.shape == wav.shape
    assert (back - wav).abs().max() < 1e-5


def test_compression_closed_form_and_inverse():
    spec = Spectrogram()
    X = torch.complex(torch.randn(1, 1, 4, 5), torch.randn(1, 1, 4, 5))
    Z = spec.compress(X)
    torch.testing.assert_close(Z.abs(), 0.15 * X.abs() ** 0.5, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(Z.angle(), X.angle(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(spec.decompress(Z), X, rtol=1e-5, atol=1e-6)


def test_window_is_periodic_hann():
    w = Spectrogram().window(torch.device("cpu"))
    n = torch.arange(510)
    torch.testing.assert_close(w, 0.5 - 0.5 * torch.cos(2 * math.pi * n / 510))


def test_peak_normalize_shares_the_noisy_factor():
    noisy = torch.tensor([[0.5, -2.0, 1.0], [0.1, 0.2, -0.4]])
    clean = noisy * 0.5
    scale, n, c, missing = peak_normalize(noisy, clean, None)
    torch.testing.assert_close(scale, torch.tensor([[2.0], [0.4]]))
    assert n.abs().amax(-1).tolist() == pytest.approx([1.0, 1.0])
    torch.testing.assert_close(c, n * 0.5)
    assert missing is None
