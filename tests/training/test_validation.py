"""Validation metrics on hand-made examples: which examples the SI-SDR averages."""

from __future__ import annotations

import math

import pytest
import torch

from ncse_cli.enhancement import Enhancement
from ncse_cli.metrics import si_sdr
from ncse_cli.sampling.pc import PCConfig
from ncse_cli.training import validation
from tests.dummies import tiny_model, tone_mixture


def example(clean: torch.Tensor, noisy: torch.Tensor, ref: torch.Tensor) -> dict:
    return {"id": "x", "clean": clean, "noisy": noisy, "noise_ref": ref, "noise_ref_length": len(ref),
            "ref_key": ""}


@pytest.fixture
def identity_enhancer(monkeypatch):
    """``enhance_waveforms`` returning the noisy input, so that the expected SI-SDR has a closed form."""
    monkeypatch.setattr(validation, "enhance_waveforms", lambda model, noisy, *a, **k: Enhancement(noisy, 0, 0, "none"))


def test_silent_clean_crops_are_left_out_of_the_si_sdr(identity_enhancer):
    clean, noisy, ref = tone_mixture(num_samples=2048, batch=2)
    silent = example(torch.zeros(2048), noisy[1], ref[1])
    data = [example(clean[0], noisy[0], ref[0]), silent]
    expected = si_sdr(noisy[0], clean[0])
    assert validation.validation_si_sdr(tiny_model(), data, PCConfig(steps=2), seed=0) == pytest.approx(expected)
    assert math.isnan(validation.validation_si_sdr(tiny_model(), [silent], PCConfig(steps=2), seed=0))
