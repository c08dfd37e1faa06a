"""Inference device resolution: auto picks the best available device; unusable requests are clear errors."""

import pytest
import torch

from ncse_cli.device import DeviceError, resolve_device


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device() == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device() == torch.device("cpu")


def test_explicit_devices_are_checked(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(DeviceError, match="has 2 CUDA device"):
        resolve_device("cuda:2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="--device cuda: CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(DeviceError, match="not a device name"):
        resolve_device("gpu0")
    with pytest.raises(DeviceError, match="only cpu, cuda and mps"):
        resolve_device("meta")


def test_the_api_runs_on_the_device_it_is_given(tmp_path, monkeypatch):
    """On a machine that claims a CUDA GPU, ``auto`` would pick it; ``cpu`` must still run on the CPU, and ``cuda``
    must really try the GPU (which this CPU-only torch cannot use), so a device that is ignored fails here."""
    from ncse_cli import api
    from ncse_cli.enhancement import enhance_waveforms as real_enhance
    from ncse_cli.inference import enhancer
    from ncse_cli.inference.settings import EnhanceSettings
    from tests.dummies import make_model_dir, speech, write_wav

    model_dir = make_model_dir(tmp_path / "m")
    noisy = write_wav(tmp_path / "in.wav", speech(0.5), 16000)
    seen = []

    def spy(model, noisy, *args, **kwargs):
        seen.append(next(model.parameters()).device)
        return real_enhance(model, noisy, *args, **kwargs)

    monkeypatch.setattr(enhancer, "enhance_waveforms", spy)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto") == torch.device("cuda")
    report = api.enhance(str(model_dir), noisy, tmp_path / "out", settings=EnhanceSettings(steps=1, device="cpu"))
    assert report.written == 1 and seen == [torch.device("cpu")]
    with pytest.raises((AssertionError, RuntimeError), match="(?i)cuda|nvidia"):  # torch tried to reach the GPU
        api.enhance(str(model_dir), noisy, tmp_path / "gpu", settings=EnhanceSettings(steps=1, device="cuda"))
    assert seen == [torch.device("cpu")] and not list((tmp_path / "gpu").rglob("*.wav"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError):
        api.enhance(str(model_dir), noisy, tmp_path / "out2", settings=EnhanceSettings(steps=1, device="cuda:99"))
    assert not (tmp_path / "out2").exists()
