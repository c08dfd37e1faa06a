"""Importing SGMSE+ Lightning checkpoints: built here with the reference package's own classes and random weights,
then enhanced by ncse and by the reference's ``ScoreModel.enhance`` with the same sampler noise."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ncse_cli import api
from ncse_cli.model_dir import load_model
from ncse_cli.cli import app
from ncse_cli.enhancement import enhance_waveforms
from ncse_cli.interop.sgmse import SgmseCheckpoint, SgmseImportError, backbone_state, model_config
from ncse_cli.sampling.bridge import BridgeODEConfig
from ncse_cli.sampling.pc import PCConfig
from ncse_cli.training.config import resolve_run_config
from ncse_cli.warmstart import incompatibilities
from ncse_cli.workspace import Workspace

from tests.backbones.test_sgmse_reference import float64_constants
from tests.dummies import (SGMSE_FULL_BAND, SGMSE_FULL_BAND_HPARAMS, noise, sgmse_reference_model, speech,
                           write_sgmse_checkpoint, write_wav)

#: importing sgmse.model imports PyTorch Lightning (about 7 s): once, on one worker (make test: --dist loadgroup),
#: when the first test runs rather than when every worker collects the tests
pytestmark = pytest.mark.xdist_group("sgmse-model")


@pytest.fixture(autouse=True, scope="module")
def _reference_package():
    pytest.importorskip("sgmse.model", reason="needs the reference package sgmse 0.1.2 (make install)")


@pytest.fixture(autouse=True)
def _no_cuda(monkeypatch):
    """The reference's ``enhance`` moves its input with ``.cuda()``; on this CPU it stays where it is."""
    monkeypatch.setattr(torch.Tensor, "cuda", lambda self, *args, **kwargs: self)


def _noisy(seconds: float = 0.6, rate: int = 16000) -> torch.Tensor:
    return torch.from_numpy(speech(seconds, rate, seed=1) + noise(seconds, rate, seed=2, level=0.05))


#: ``(backbone, SDE, hyper-parameters, seconds)``: SGMSE+'s score model, its Schrodinger bridge, and its full-band
#: model (48 kHz and its 768 frequency bins, at width 4 and two steps to stay cheap in float64; whether it has
#: pyramids is left to ncsnpp_48k's own defaults).
CHECKPOINTS = {"ncsnpp": ("ncsnpp", "ouve", {}, 0.3), "ncsnpp_v2": ("ncsnpp_v2", "sbve", {"N": 4}, 0.3),
               "ncsnpp_48k": ("ncsnpp_48k", "ouve", {**SGMSE_FULL_BAND, "nf": 4, **SGMSE_FULL_BAND_HPARAMS, "N": 2},
                              0.25)}


def _reference_enhance(ref, noisy: torch.Tensor, seed: int, **kwargs) -> np.ndarray:
    ref.eval()  # SGMSE+ swaps its EMA weights in for evaluation
    torch.manual_seed(seed)
    with torch.no_grad():
        return ref.enhance(noisy[None], **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("name", CHECKPOINTS)
def test_imported_checkpoint_enhances_like_the_reference(tmp_path, name):
    """Same weights (the EMA's), same STFT, SDE, time grid, padding and sampler noise: the same waveform.

    Both run in float64 (the reference's window and FIR kernels made float64, exactly), so the comparison is not
    blurred by float32 network rounding, which the bridge's first step magnifies ten-thousandfold in either
    toolkit. What stays float32 in both is the time grid (``torch.linspace``'s default dtype, as SGMSE+ samples),
    hence 1e-6; the bridge's 1e-5 adds the reference's float32 constants (see tests/core/test_bridge.py).
    """
    backbone, sde, hparams, seconds = CHECKPOINTS[name]
    hparams = {"N": 2, **hparams}  # PC: the first step and the last (no noise) differ
    ref = sgmse_reference_model(backbone, sde, **hparams)
    path = write_sgmse_checkpoint(ref, tmp_path / "model.ckpt")
    outcome = api.import_sgmse(path, "imported", workdir=tmp_path / "ws")
    assert outcome.weights == "ema" and outcome.source["hyper_parameters"]["data_module_cls"].startswith("<class")
    model = load_model(outcome.directory).double()
    assert model.cfg.sample_rate == hparams.get("sr", 16000)
    for shadow in ref.ema.shadow_params:  # the EMA is copied into the network in eval(): float64 as well
        shadow.data = shadow.data.double()
    ref.double().data_module.window = ref.data_module.window.double()
    noisy = _noisy(seconds, rate=hparams.get("sr", 16000)).double()
    steps = hparams["N"]
    sampler = PCConfig(steps=steps) if sde == "ouve" else BridgeODEConfig(steps=steps)
    ours = enhance_waveforms(model, noisy, sampler=sampler, generator=torch.Generator().manual_seed(7)).waveform.numpy()
    kwargs = {"N": steps, "corrector_steps": 1, "snr": 0.5} if sde == "ouve" else {}
    with float64_constants():
        theirs = _reference_enhance(ref, noisy, seed=7, **kwargs)
    assert ours.shape == theirs.shape == noisy.shape
    assert np.abs(theirs).max() > 1e-5 and np.std(theirs) > 1e-6
    tolerance = 1e-6 if sde == "ouve" else 1e-5
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=tolerance * np.abs(theirs).max())


def test_import_takes_the_ema_weights_or_with_no_ema_the_training_weights(tmp_path):
    ref = sgmse_reference_model(seed=4)
    path = write_sgmse_checkpoint(ref, tmp_path / "model.ckpt")
    for use_ema, name in ((True, "ema"), (False, "raw")):
        model = load_model(api.import_sgmse(path, name, use_ema=use_ema, workdir=tmp_path).directory)
        source = dict(ref.dnn.named_parameters())
        if use_ema:
            source = {n: s for (n, _), s in zip(ref.dnn.named_parameters(), ref.ema.shadow_params)}
        expected = backbone_state({k: v.detach() for k, v in source.items()}, model.backbone)
        got = model.backbone.state_dict()
        assert set(expected) <= set(got)
        for key, value in expected.items():
            torch.testing.assert_close(got[key], value.float(), rtol=0, atol=0)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_a_checkpoint_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    ref = sgmse_reference_model()
    marker = tmp_path / "pickled-code-ran"
    path = write_sgmse_checkpoint(ref, tmp_path / "evil.ckpt", callbacks={"x": _Payload(marker)})
    with pytest.raises(SgmseImportError, match=r"evil.ckpt: holds more than weights \(posix.mkdir\)"):
        api.import_sgmse(path, "evil", workdir=tmp_path / "ws")
    assert not marker.exists()
    assert not (tmp_path / "ws" / "models" / "evil").exists()


def test_instantiating_a_referenced_class_is_refused(tmp_path):
    """A class reference is read as a name; a pickle that builds an object of that class is refused."""
    ref = sgmse_reference_model()
    path = write_sgmse_checkpoint(ref, tmp_path / "obj.ckpt", loops={"obj": _Instance(3)})
    with pytest.raises(SgmseImportError, match=r"obj.ckpt: holds more than weights \(.*_Instance\)"):
        api.import_sgmse(path, "obj", workdir=tmp_path / "ws")


class _Instance:
    def __init__(self, value):
        self.value = value


@pytest.mark.parametrize("change,named", [({"backbone": "dcunet"}, "dcunet"),
                                          ({"transform_type": "log"}, "transform_type='log'"),
                                          ({"loss_type": "denoiser"}, "loss_type='denoiser'"),
                                          ({"window": "sqrthann"}, "window='sqrthann'"),
                                          ({"progressive": "residual"}, "progressive='residual'")])
def test_unsupported_hyper_parameters_are_refused_by_name(tmp_path, change, named):
    ref = sgmse_reference_model()
    path = write_sgmse_checkpoint(ref, tmp_path / "odd.ckpt", hyper_parameters={**dict(ref.hparams), **change})
    with pytest.raises(SgmseImportError, match=re.escape(named)):
        api.import_sgmse(path, "odd", workdir=tmp_path)
    assert not Workspace(tmp_path).models()


def test_import_enhance_and_list_through_the_cli(tmp_path):
    ref = sgmse_reference_model()
    path = write_sgmse_checkpoint(ref, tmp_path / "vb.ckpt")
    ws = tmp_path / "ws"
    runner = CliRunner()
    result = runner.invoke(app, ["models", "import-sgmse", str(path), "--name", "sgmse-vb", "--workdir", str(ws)])
    assert result.exit_code == 0, result.output
    assert "imported sgmse-vb (ncsnpp, ouve, ema weights, epoch 3, step 1234)" in " ".join(result.output.split())
    again = runner.invoke(app, ["models", "import-sgmse", str(path), "--name", "sgmse-vb", "--workdir", str(ws)])
    assert again.exit_code == 1 and "already exists" in again.output
    write_wav(tmp_path / "in" / "a.wav", _noisy().numpy(), 16000)
    result = runner.invoke(app, ["enhance", "-m", "sgmse-vb", "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                 "--steps", "2", "--workdir", str(ws)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "a.wav").is_file()
    listed = runner.invoke(app, ["models", "list", "--workdir", str(ws)], terminal_width=200)
    assert "sgmse-vb" in listed.output and "none" in listed.output



def test_the_full_band_recipe_is_what_an_imported_ncsnpp_48k_checkpoint_becomes():
    """``recipes/fullband_48k.yaml`` is SGMSE+'s full-band model as the importer maps it (hyper-parameters as
    SGMSE+'s command line writes them for --backbone ncsnpp_48k), up to the conditioning it adds: an imported
    EARS-WHAM or EARS-Reverb checkpoint can start it (``--init-from``)."""
    hparams = {"backbone": "ncsnpp_48k", "sde": "ouve", "nf": 128, "ch_mult": [1, 1, 2, 2, 2, 2, 2],
               "num_res_blocks": 2, "attn_resolutions": [], "progressive": "none", "progressive_input": "none",
               "centered": True, **SGMSE_FULL_BAND_HPARAMS}
    imported, _ = model_config(SgmseCheckpoint(Path("ears.ckpt"), hparams, {}, None, {}))
    recipe = resolve_run_config(Path(__file__).resolve().parents[2] / "recipes" / "fullband_48k.yaml").model
    assert imported.backbone.progressive == imported.backbone.progressive_input == "none"
    assert imported.backbone.divide_after_output_layer and imported.sample_rate == 48000
    assert incompatibilities(imported, recipe) == []
