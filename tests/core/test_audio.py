"""Reading audio refuses what would otherwise be read wrong, by name (cut files, damaged rates, silent
references), and writing it on a full disk is one error naming the file."""

from __future__ import annotations

import errno
import logging

import numpy as np
import pytest
import torch
import torchaudio.functional as AF

from ncse_cli.audio import (RESAMPLER, Audio, AudioError, _bank_bytes, _resampler, audio_info, check_noise_reference,
                            load_audio, resample_tensor, save_audio, save_audio_blocks)
from tests.dummies import cut_wav, file_size_limit, noise, set_wav_data_size, speech, write_wav


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_a_wav_cut_short_is_refused_by_name(tmp_path, subtype):
    path = cut_wav(write_wav(tmp_path / "cut.wav", speech(1.0), 16000, subtype), keep=0.5)
    for read in (load_audio, audio_info):
        with pytest.raises(AudioError, match=r"cut.wav: cut short: the header announces \d+ bytes of audio, the "
                                             r"file holds \d+ \((49|50)%\)"):
            read(path)


def test_a_streaming_header_of_unknown_length_is_not_a_cut_file(tmp_path):
    samples = speech(0.5)
    path = set_wav_data_size(write_wav(tmp_path / "stream.wav", samples, 16000, "PCM_16"), 0xFFFFFFFF)
    assert len(load_audio(path).samples) == len(samples)


@pytest.mark.parametrize("rate", [1, 3_999, 384_001])
def test_an_implausible_sample_rate_is_refused_by_name(tmp_path, rate):
    path = write_wav(tmp_path / "odd.wav", speech(0.1), rate, "PCM_16")
    for read in (load_audio, audio_info):
        with pytest.raises(AudioError, match=f"odd.wav: implausible sample rate {rate} Hz"):
            read(path)


@pytest.mark.parametrize("rate", [4_000, 384_000])
def test_the_plausible_range_includes_its_ends(tmp_path, rate):
    assert load_audio(write_wav(tmp_path / "ok.wav", speech(0.01), rate, "PCM_16")).sample_rate == rate


def test_a_silent_noise_reference_is_refused_and_a_nearly_silent_one_warned(caplog):
    with pytest.raises(AudioError, match="ref.wav: the noise reference is silent \\(all zeros\\)"):
        check_noise_reference("ref.wav", Audio(np.zeros(4000, np.float32), 16000))
    with pytest.raises(AudioError, match="silent \\(RMS -96 dBFS\\)"):  # half a 16-bit step
        check_noise_reference("ref.wav", Audio(np.full(4000, 2 ** -15 / 2, np.float32), 16000))
    with caplog.at_level(logging.WARNING, logger="ncse"):
        check_noise_reference("quiet.wav", Audio(noise(0.25, level=10 ** (-80 / 20)), 16000))
        check_noise_reference("fine.wav", Audio(noise(0.25, level=0.01), 16000))
    assert [r.getMessage() for r in caplog.records] == [
        "quiet.wav: the noise reference is nearly silent (RMS -80 dBFS); is it the right file?"]


def test_a_file_the_disk_cannot_take_is_one_error_naming_it_and_leaves_nothing(tmp_path):
    with file_size_limit(4096):
        with pytest.raises(OSError) as caught:
            save_audio(tmp_path / "out.wav", speech(0.5), 16000)  # 32 kB of float32
        with pytest.raises(AudioError, match=r"long.wav: could not be written \(System error: is the disk full"):
            save_audio_blocks(tmp_path / "long.wav", [speech(0.1)] * 5, 16000)
    assert caught.value.errno == errno.EFBIG and caught.value.filename == str(tmp_path / "out.wav")
    assert list(tmp_path.iterdir()) == []  # no temporary file left
    save_audio(tmp_path / "out.wav", speech(0.5), 16000)  # the limit is gone again


@pytest.mark.parametrize("rates", [(44100, 16000), (16000, 48000), (22050, 16000)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_resampler_computes_its_filters_once_and_equals_torchaudios_function(rates, dtype):
    x = torch.randn(2, 5000, dtype=dtype, generator=torch.Generator().manual_seed(0))
    expected = AF.resample(x, *rates, lowpass_filter_width=RESAMPLER["lowpass_filter_width"],
                           rolloff=RESAMPLER["rolloff"], resampling_method=RESAMPLER["method"], beta=RESAMPLER["beta"])
    first = resample_tensor(x, *rates)
    hits = _resampler.cache_info().hits
    assert torch.equal(first, expected) and torch.equal(resample_tensor(x, *rates), expected)  # bit for bit
    assert _resampler.cache_info().hits == hits + 1


def test_a_filter_bank_first_made_in_inference_mode_still_differentiates_and_large_ones_are_not_kept():
    with torch.inference_mode():
        resample_tensor(torch.randn(1, 3000), 11025, 16000)  # the bank is made here, and kept
    x = torch.randn(1, 3000, requires_grad=True)
    resample_tensor(x, 11025, 16000).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    kept = _resampler.cache_info().currsize
    resample_tensor(torch.randn(1, 500), 44056, 16000)  # a legacy rate: a 47 MB bank, computed for the call
    assert _resampler.cache_info().currsize == kept
    assert _bank_bytes(44056, 16000, 4) == 47_032_000 == _resampler.__wrapped__(44056, 16000, torch.float32,
                                                                                  torch.device("cpu")).kernel.nbytes
