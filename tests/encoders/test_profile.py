"""The noise-profile encoder and its injection: the reference's power per frequency bin, as a map into NCSN++."""

import math

import pytest
import torch

from ncse_cli.config import from_dict
from ncse_cli.conditioning import ConditionSpec
from ncse_cli.backbones import BACKBONES
from ncse_cli.encoders import ENCODERS
from ncse_cli.encoders.profile import ProfileEncoder
from ncse_cli.stft import STFTConfig


def test_a_tone_puts_its_peak_in_its_own_bin_and_silence_is_the_null_condition():
    stft = STFTConfig()
    enc = ENCODERS.get("profile")()
    bin_width = 16000 / stft.n_fft
    t = torch.arange(8000) / 16000
    tone = 0.5 * torch.sin(2 * math.pi * 40 * bin_width * t)  # exactly on bin 40
    profile = enc(torch.stack([tone, torch.zeros(8000)])).vector
    assert profile.shape == (2, stft.freq_bins)
    assert int(profile[0].argmax()) == 40
    torch.testing.assert_close(profile[1], torch.zeros(stft.freq_bins), atol=1e-6, rtol=0)  # ~ the zero null


def test_white_noise_gives_a_flat_profile_whose_level_follows_the_power():
    """Mean power per bin of a compressed spectrogram |X|^e c: scaling the waveform by a scales it by a^(2e)."""
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(1, 32000, generator=gen) * 0.1
    enc = ProfileEncoder(ProfileEncoder.Config(floor=1e-12))  # log(1 + P/floor) ~ log P - log floor
    quiet, loud = enc(noise).vector[0], enc(4 * noise).vector[0]
    inner = slice(8, -8)  # away from DC and Nyquist, whose bins are real-valued
    assert (quiet[inner] - quiet[inner].mean()).abs().max() < 0.5
    exponent = STFTConfig().alpha
    torch.testing.assert_close((loud - quiet)[inner].mean(), torch.tensor(2 * exponent * math.log(4)),
                               atol=1e-3, rtol=0)


def test_each_row_is_encoded_from_its_valid_samples_only():
    gen = torch.Generator().manual_seed(1)
    batch = torch.randn(3, 8000, generator=gen) * 0.1
    lengths = torch.tensor([8000, 3000, 5000])
    enc = ProfileEncoder()
    together = enc(batch, lengths).vector
    alone = torch.cat([enc(batch[i:i + 1, :n]).vector for i, n in enumerate(lengths.tolist())])
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-6)


def test_the_profile_injection_needs_one_value_per_frequency_bin():
    cfg = from_dict(BACKBONES.get("tiny").Config, {"nf": 8})
    with pytest.raises(ValueError, match="one value per frequency bin"):
        BACKBONES.get("tiny")(cfg, ConditionSpec(vector_dim=64), "profile")
