"""Importing SGMSE+'s public checkpoints (PyTorch Lightning ``.ckpt`` files of the ``sgmse`` package).

A checkpoint holds the Lightning module's ``state_dict`` (the score network under ``dnn.``), the
``hyper_parameters`` it was built with (backbone, SDE, STFT and training settings, and a reference to the data
module class) and ``ema``, the ``torch_ema`` state whose ``shadow_params`` list follows the network's parameter
order; SGMSE+ enhances with those EMA weights, and so does the imported model. The file is read with
:func:`ncse_cli.safeload.read_torch_checkpoint` (class references recorded by name, nothing executed).

Supported: backbone ``ncsnpp`` with the OUVE SDE and score matching (Richter et al., TASLP 2023; the VB-DMD and
WSJ0-CHiME3 checkpoints), its full-band variant ``ncsnpp_48k`` likewise (Richter et al., "EARS", Interspeech
2024; the 48 kHz EARS-WHAM and EARS-Reverb checkpoints: no input or output pyramid, no self-attention but the
middle block's, the output layer before the division by sigma) and backbone ``ncsnpp_v2`` with the SB-VE Schrodinger bridge and data
prediction (Jukic et al., Interspeech 2024; Richter et al., ICASSP 2025). Anything else is refused by name.

The map between the two parameter layouts is built by walking ncse's NCSN++ in the order SGMSE+ constructs its
``all_modules`` list; ``tests/backbones/test_sgmse_reference.py`` checks it against the reference package.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch

from ncse_cli.model_dir import save_model
from ncse_cli.config import ConfigError, from_dict
from ncse_cli.files import atomic_write_text
from ncse_cli.errors import NcseError
from ncse_cli.model import ModelConfig, ScoreModel
from ncse_cli.safeload import ClassReference, read_torch_checkpoint
from ncse_cli.workspace import file_sha256


class SgmseImportError(NcseError):
    """A checkpoint that cannot be imported; the message names the file and the reason."""


#: SGMSE+'s parameter names inside each kind of block -> ncse's, in the reference's registration order.
_BLOCK_PARAMS: dict[str, list[tuple[str, str]]] = {
    "plain": [("weight", "weight"), ("bias", "bias")],
    "fourier": [("W", "W")],
    "combine": [("Conv_0.weight", "weight"), ("Conv_0.bias", "bias")],
    "resnet": [(f"{ref}.{p}", f"{ours}.{p}") for ref, ours in
               [("GroupNorm_0", "norm0"), ("Conv_0", "conv0"), ("Dense_0", "temb"), ("GroupNorm_1", "norm1"),
                ("Conv_1", "conv1"), ("Conv_2", "skip")] for p in ("weight", "bias")],
    "attn": [("GroupNorm_0.weight", "norm.weight"), ("GroupNorm_0.bias", "norm.bias"),
             *[(f"NIN_{i}.{p}", f"qkv.{i}.{p}") for i in range(3) for p in ("W", "b")],
             ("NIN_3.W", "out.weight"), ("NIN_3.b", "out.bias")],
}


def _blocks(backbone) -> Iterator[tuple[str, str, str]]:
    """``(reference prefix, ncse module path, kind)`` for every block, in SGMSE+'s parameter order: its
    ``output_layer`` first, then ``all_modules`` in construction order (SGMSE+ ``backbones/ncsnpp.py``; without
    the pyramids, ``progressive='none'`` and ``progressive_input='none'``, as in ``backbones/ncsnpp_48k.py``)."""
    yield "output_layer", "output_layer", "plain"
    index = itertools.count()

    def module(ours: str, kind: str) -> tuple[str, str, str]:
        return f"all_modules.{next(index)}", ours, kind

    yield module("time_embed.0", "fourier")
    yield module("time_embed.1", "plain")
    yield module("time_embed.3", "plain")
    yield module("conv_in", "plain")
    for lvl, stage in enumerate(backbone.down):
        for i in range(len(stage["res"])):
            yield module(f"down.{lvl}.res.{i}", "resnet")
            if "attn" in stage:
                yield module(f"down.{lvl}.attn.{i}", "attn")
        if "downsample" in stage:
            yield module(f"down.{lvl}.downsample", "resnet")
            if backbone.input_skips is not None:
                yield module(f"input_skips.{lvl}", "combine")
    yield module("mid.0", "resnet")
    yield module("mid.1", "attn")
    yield module("mid.2", "resnet")
    for k, stage in enumerate(backbone.up):
        for i in range(len(stage["res"])):
            yield module(f"up.{k}.res.{i}", "resnet")
        if "attn" in stage:
            yield module(f"up.{k}.attn", "attn")
        if backbone.output_heads is not None:
            yield module(f"output_heads.{k}.0", "plain")
            yield module(f"output_heads.{k}.2", "plain")
        if "upsample" in stage:
            yield module(f"up.{k}.upsample", "resnet")
    if backbone.output_head is not None:
        yield module("output_head.0", "plain")
        yield module("output_head.2", "plain")


def reference_parameters(backbone) -> list[tuple[str, str]]:
    """``(SGMSE+ name, ncse name)`` of every parameter, in the reference network's parameter order (which is
    the order of ``torch_ema``'s shadow list). A reference residual block without a skip convolution has no
    ``Conv_2``; nor does ncse's."""
    ours = dict(backbone.named_parameters()) | dict(backbone.named_buffers())
    pairs = []
    for ref_prefix, our_prefix, kind in _blocks(backbone):
        for ref_name, our_name in _BLOCK_PARAMS[kind]:
            our_key = f"{our_prefix}.{our_name}"
            if kind == "attn" and our_name.startswith("qkv."):
                if f"{our_prefix}.qkv.weight" in ours:
                    pairs.append((f"{ref_prefix}.{ref_name}", our_key))
            elif our_key in ours:
                pairs.append((f"{ref_prefix}.{ref_name}", our_key))
    return pairs


def backbone_state(reference: Mapping[str, torch.Tensor], backbone) -> dict[str, torch.Tensor]:
    """ncse's backbone state dict from SGMSE+'s network parameters (names without the ``dnn.`` prefix)."""
    state: dict[str, torch.Tensor] = {}
    qkv: dict[str, dict[str, list[torch.Tensor]]] = {}
    for ref_key, our_key in reference_parameters(backbone):
        value = reference[ref_key]
        if ".qkv." in our_key:  # NIN_i.W [C_in, C_out] and NIN_i.b, fused into one 1x1 convolution
            prefix, rest = our_key.split(".qkv.")
            part = "weight" if rest.endswith("W") else "bias"
            qkv.setdefault(prefix, {}).setdefault(part, []).append(value.T if part == "weight" else value)
        elif our_key.endswith(".out.weight") and ref_key.endswith("NIN_3.W"):
            state[our_key] = value.T[:, :, None, None]
        else:
            state[our_key] = value
    for prefix, parts in qkv.items():
        state[f"{prefix}.qkv.weight"] = torch.cat(parts["weight"])[:, :, None, None]
        state[f"{prefix}.qkv.bias"] = torch.cat(parts["bias"])
    return state


@dataclass
class SgmseCheckpoint:
    """What an SGMSE+ checkpoint holds, as ncse reads it."""

    path: Path
    hparams: dict[str, Any]
    network: dict[str, torch.Tensor]  #: the state dict's ``dnn.*`` entries, prefix removed
    ema: list[torch.Tensor] | None  #: torch_ema's shadow parameters, if saved
    info: dict[str, Any]  #: epoch, global step, Lightning version


def read_sgmse_checkpoint(path: str | Path) -> SgmseCheckpoint:
    """Read a Lightning ``.ckpt`` of the sgmse package without executing pickled code."""
    path = Path(path)
    if not path.is_file():
        raise SgmseImportError(f"{path}: no such checkpoint file")
    obj = read_torch_checkpoint(path, error=SgmseImportError, references=True)
    if not isinstance(obj, Mapping) or not isinstance(obj.get("state_dict"), Mapping):
        raise SgmseImportError(f"{path}: not a PyTorch Lightning checkpoint (no state_dict)")
    hparams = obj.get("hyper_parameters")
    if not isinstance(hparams, Mapping) or "backbone" not in hparams:
        raise SgmseImportError(f"{path}: no SGMSE+ hyper_parameters (backbone, sde, ...) in the checkpoint")
    network = {k[len("dnn."):]: v for k, v in obj["state_dict"].items() if k.startswith("dnn.")}
    ema = obj.get("ema")
    shadow = list(ema["shadow_params"]) if isinstance(ema, Mapping) and "shadow_params" in ema else None
    info = {key: obj.get(key) for key in ("epoch", "global_step", "pytorch-lightning_version")}
    return SgmseCheckpoint(path, dict(hparams), network, shadow, info)


def _refuse_unless(path: Path, hp: Mapping[str, Any], key: str, allowed: tuple, what: str) -> None:
    value = hp.get(key, allowed[0])
    if value not in allowed:
        raise SgmseImportError(f"{path}: {what} {key}={value!r} is not supported (supported: "
                               f"{', '.join(repr(a) for a in allowed)})")


#: Constructor defaults of SGMSE+'s backbones that differ from ``ncsnpp``'s, for hyper-parameters that leave them
#: out (``backbones/ncsnpp_48k.py``; its command line writes them into the checkpoint).
_BACKBONE_DEFAULTS: dict[str, dict[str, Any]] = {
    "ncsnpp_48k": {"progressive": "none", "progressive_input": "none", "attn_resolutions": ()}}


def model_config(ckpt: SgmseCheckpoint) -> tuple[ModelConfig, dict[str, Any]]:
    """The ncse model config and sampler section equivalent to the checkpoint's hyper-parameters."""
    hp, path = ckpt.hparams, ckpt.path
    backbone, sde = hp.get("backbone"), hp.get("sde")
    pairs = {("ncsnpp", "ouve"): "score_matching", ("ncsnpp_48k", "ouve"): "score_matching",
             ("ncsnpp_v2", "sbve"): "data_prediction"}
    if (backbone, sde) not in pairs:
        raise SgmseImportError(f"{path}: backbone {backbone!r} with SDE {sde!r} is not supported (supported: "
                               "ncsnpp or ncsnpp_48k with ouve, ncsnpp_v2 with sbve)")
    hp = {**_BACKBONE_DEFAULTS.get(backbone, {}), **hp}
    loss = pairs[backbone, sde]
    _refuse_unless(path, hp, "loss_type", ("score_matching", "mse") if loss == "score_matching"
                   else ("data_prediction",), "loss")
    for key, default in (("network_scaling", None), ("c_in", "1"), ("c_out", "1"), ("c_skip", "0")):
        _refuse_unless(path, hp, key, (default,), "network scaling")
    for key, allowed in (("window", ("hann",)), ("transform_type", ("exponent",)), ("normalize", ("noisy",)),
                         ("centered", (True,)), ("embedding_type", ("fourier",)), ("resblock_type", ("biggan",)),
                         ("progressive", ("output_skip", "none")), ("progressive_input", ("input_skip", "none")),
                         ("progressive_combine", ("sum",)), ("fir", (True,)), ("skip_rescale", (True,)),
                         ("nonlinearity", ("swish",)), ("resamp_with_conv", (True,)), ("conditional", (True,)),
                         ("scale_by_sigma", (True,))):
        _refuse_unless(path, hp, key, allowed, "setting")
    n_fft = int(hp.get("n_fft", 510))
    net = {"name": "base", "nf": int(hp.get("nf", 128)), "ch_mult": list(hp.get("ch_mult", (1, 1, 2, 2, 2, 2, 2))),
           "num_res_blocks": int(hp.get("num_res_blocks", 2)),
           "attn_resolutions": list(hp.get("attn_resolutions", (16,))),
           "dropout": float(hp.get("dropout", 0.0)), "fourier_scale": float(hp.get("fourier_scale", 16)),
           "freq_bins": int(hp.get("image_size", n_fft // 2 + 1)),
           "progressive": hp.get("progressive", "output_skip"),
           "progressive_input": hp.get("progressive_input", "input_skip"),
           "divide_after_output_layer": backbone == "ncsnpp_48k"}
    if hp.get("sde") == "ouve":
        sde_cfg = {"name": "ouve", "theta": hp.get("theta", 1.5), "sigma_min": hp.get("sigma_min", 0.05),
                   "sigma_max": hp.get("sigma_max", 0.5), "t_eps": hp.get("t_eps", 0.03)}
        sampler = {"name": "pc", "steps": int(hp.get("N", 30)), "corrector_steps": 1, "snr": 0.5}
    else:
        sde_cfg = {"name": "sbve", "k": hp.get("k", 2.6), "c": hp.get("c", 0.4), "eps": hp.get("eps", 1e-8),
                   "t_eps": hp.get("t_eps", 0.03)}
        sampler = {"name": "sb-sde" if hp.get("sampler_type") == "sde" else "sb-ode", "steps": int(hp.get("N", 50))}
    data = {"sample_rate": int(hp.get("sr", 16000)), "loss": loss, "encoder": "none", "backbone": net,
            "sde": sde_cfg, "stft": {"n_fft": n_fft, "hop_length": int(hp.get("hop_length", 128)),
                                     "alpha": float(hp.get("spec_abs_exponent", 0.5)),
                                     "beta": float(hp.get("spec_factor", 0.15))}}
    try:
        return from_dict(ModelConfig, data, "model"), sampler
    except ConfigError as err:
        raise SgmseImportError(f"{path}: the hyper-parameters give no valid ncse model ({err})") from None


def import_model(ckpt: SgmseCheckpoint, use_ema: bool = True) -> ScoreModel:
    """The ncse model holding the checkpoint's (EMA) weights, in eval mode."""
    cfg, _ = model_config(ckpt)
    model = ScoreModel(cfg, load_pretrained=False)
    names = [ref for ref, _ in reference_parameters(model.backbone)]
    missing = sorted(set(names) - set(ckpt.network))
    extra = sorted(set(ckpt.network) - set(names))
    if missing or extra:
        raise SgmseImportError(f"{ckpt.path}: the network's weights do not fit its hyper-parameters "
                               f"(missing {missing[:3]}, unexpected {extra[:3]})")
    weights = dict(ckpt.network)
    if use_ema and ckpt.ema is not None:
        if len(ckpt.ema) != len(names):
            raise SgmseImportError(f"{ckpt.path}: the EMA holds {len(ckpt.ema)} tensors for {len(names)} "
                                   "network parameters")
        for name, shadow in zip(names, ckpt.ema):
            if shadow.shape != weights[name].shape:
                raise SgmseImportError(f"{ckpt.path}: EMA tensor for {name} has shape {tuple(shadow.shape)}, "
                                       f"the network {tuple(weights[name].shape)}")
            weights[name] = shadow
    state = {f"backbone.{k}": v.float() for k, v in backbone_state(weights, model.backbone).items()}
    unmapped = sorted(name for name, _ in model.named_parameters() if name not in state)
    if unmapped:  # cannot happen for the supported networks: every parameter has its reference counterpart
        raise SgmseImportError(f"{ckpt.path}: internal: no reference weights for {unmapped[:3]}")
    model.load_state_dict({**model.state_dict(), **state})  # buffers (FIR kernels) are constants
    return model.eval()


def provenance(ckpt: SgmseCheckpoint, used_ema: bool) -> dict[str, Any]:
    """A JSON-ready record of where an imported model came from."""
    return {"format": "sgmse-lightning", "file": str(ckpt.path.resolve()), "sha256": file_sha256(ckpt.path),
            "weights": "ema" if used_ema else "state_dict", **ckpt.info,
            "hyper_parameters": {k: _jsonable(v) for k, v in sorted(ckpt.hparams.items())}}


def _jsonable(value: Any) -> Any:
    if isinstance(value, ClassReference):
        return f"<class {value.qualified_name}>"
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


SOURCE_FILE = "source.json"


def write_model_directory(path: str | Path, directory: Path, *, use_ema: bool = True,
                          overwrite: bool = False) -> dict[str, Any]:
    """Import the checkpoint at ``path`` as the model directory ``directory``: its ``config.yaml`` (model and
    sampler sections), ``model.safetensors`` and ``source.json`` (:func:`provenance`, returned). It is written to a
    temporary folder beside the target and renamed, so a failure leaves nothing; an existing directory is an
    error unless ``overwrite``, and is then replaced only once the new one is complete."""
    if directory.exists() and not overwrite:
        raise SgmseImportError(f"model {directory.name!r} already exists in {directory.parent.parent}; pass "
                               "--overwrite to replace it or choose another --name")
    ckpt = read_sgmse_checkpoint(path)
    model = import_model(ckpt, use_ema)
    _, sampler = model_config(ckpt)
    record = provenance(ckpt, use_ema and ckpt.ema is not None)
    staging, old = (directory.with_name(f".{directory.name}.{tag}") for tag in ("importing", "replaced"))
    for leftover in (staging, old):
        shutil.rmtree(leftover, ignore_errors=True)
    save_model(model, staging, {"sampler": sampler})
    atomic_write_text(staging / SOURCE_FILE, json.dumps(record, indent=2) + "\n")
    if directory.exists():
        directory.rename(old)
    staging.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
    return record
