"""The noise-conditioned score model s(x_t, y, z_r, t): spectrogram, SDE, noise encoder, backbone, null condition.

The score network of SGMSE+ (Richter et al., TASLP 2023) takes the diffusion state x_t and the mixture y as
input channels; here it also receives z_r, the encoding of a short noise-only reference, and a null condition
for classifier-free guidance (Ho & Salimans 2022).

What the network's output means follows SGMSE+'s ``loss_type`` (Richter, de Oliveira, Gerkmann, "Investigating
Training Objectives for Generative Speech Enhancement", ICASSP 2025): with ``score_matching`` it is the negative
score (SGMSE+'s ``ScoreModel.forward`` returns ``-dnn(x, y, t)``), with ``data_prediction`` it is the clean
spectrogram itself (the Schrodinger bridge of Jukic et al., Interspeech 2024). Either way the model offers both
the score and the clean estimate: for a Gaussian marginal ``x_t ~ N(a_t x_0 + b_t y, std_t^2)`` the two are
affine in each other (Tweedie's formula), so samplers ask for whichever they integrate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ncse_cli.backbones import BACKBONES
from ncse_cli.backbones.layers import aside
from ncse_cli.conditioning import Condition, NullCondition
from ncse_cli.config import component_field
from ncse_cli.encoders import ENCODERS, EncoderContext
from ncse_cli.sde import SDES
from ncse_cli.stft import Spectrogram, STFTConfig
from ncse_cli.tensors import expand

#: The layout of ``ModelConfig``. Model directories written before versions existed (ncse 0.1) are read with
#: the settings they were trained with (see :func:`ncse_cli.model_dir.model_config`).
MODEL_CONFIG_VERSION = 2

Loss = Literal["score_matching", "data_prediction"]


@dataclass(frozen=True)
class ConditioningConfig:
    """How the condition enters the backbone and what the null condition is."""

    #: ``add`` (to the time embedding), ``film`` (per block) or ``profile`` (a per-frequency condition such as the
    #: ``profile`` encoder's, as a map into the first features)
    injection: Literal["add", "film", "profile"] = "add"
    null: Literal["zeros", "learned"] = "zeros"


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model: the run directory's ``model:`` section."""

    version: int = MODEL_CONFIG_VERSION
    sample_rate: int = 16000
    stft: STFTConfig = field(default_factory=STFTConfig)
    sde: Any = component_field(SDES, lambda: SDES.get("ouve").Config())
    backbone: Any = component_field(BACKBONES, lambda: BACKBONES.get("base").Config())
    encoder: Any = component_field(ENCODERS, lambda: ENCODERS.get("cnn").Config())
    conditioning: ConditioningConfig = field(default_factory=ConditioningConfig)
    #: What the network predicts and how it is trained (SGMSE+'s ``loss_type``): ``score_matching`` (denoising
    #: score matching; the output is the negative score) or ``data_prediction`` (the clean spectrogram).
    loss: Loss = "score_matching"
    #: How a score-matching network's output becomes the score. ``sgmse``: ``score = -output``, the output
    #: pyramid divided by t inside the backbone (SGMSE+ exactly). ncse 0.1's choices: ``noise``:
    #: ``score = -output / std(t)`` (NCSN++'s scale_by_sigma); ``score``: the output is the score.
    parameterization: Literal["sgmse", "noise", "score"] = "sgmse"
    #: Enhancement pads the mixture's spectrogram once with zero frames to a multiple of this and lets the padded
    #: frames diffuse with the rest (SGMSE+'s ``pad_spec``: 64). ``None``: zero-pad inside every network call.
    pad_frames: int | None = 64

    def __post_init__(self) -> None:
        if self.version != MODEL_CONFIG_VERSION:
            raise ValueError(f"model.version {self.version} is not {MODEL_CONFIG_VERSION}; this ncse reads "
                             "older model directories through ncse_cli.model_dir.load_model")
        if self.loss == "data_prediction" and self.parameterization != "sgmse":
            raise ValueError(f"model.parameterization {self.parameterization!r} applies to score matching only; "
                             "a data-prediction network outputs the clean spectrogram")
        if self.pad_frames is not None and self.pad_frames < 1:
            raise ValueError(f"model.pad_frames must be at least 1 or null, got {self.pad_frames}")


#: What a ``model:`` section without ``version`` (ncse 0.1) was trained with, where today's defaults differ.
LEGACY_MODEL_SETTINGS: dict[str, Any] = {"pad_frames": None}
LEGACY_BACKBONE_SETTINGS: dict[str, Any] = {"embedding": "linear", "output_layer": False,
                                            "xattn_skip_rescale": True}
LEGACY_ENCODER_SETTINGS: dict[str, dict[str, Any]] = {"cnn": {"level_bands": 0}, "sequence": {"level_bands": 0}}


def upgrade_model_section(section: Mapping[str, Any]) -> dict[str, Any]:
    """A saved ``model:`` section in today's layout: one without ``version`` is an ncse 0.1 model, whose
    settings that today's defaults changed are written out, so it rebuilds the network it was trained as."""
    data = dict(section)
    if "version" in data:
        return data
    backbone, encoder = _component(data.get("backbone", "base")), _component(data.get("encoder", "cnn"))
    data["backbone"] = {**LEGACY_BACKBONE_SETTINGS, **backbone}
    data["encoder"] = {**LEGACY_ENCODER_SETTINGS.get(encoder["name"], {}), **encoder}
    return {**LEGACY_MODEL_SETTINGS, **data, "version": MODEL_CONFIG_VERSION}


def _component(value: Any) -> dict[str, Any]:
    return {"name": value} if isinstance(value, str) else dict(value)


class ScoreModel(nn.Module):
    """Noise-conditioned score model on compressed complex spectrograms ``[B, 1, F, T]``."""

    def __init__(self, cfg: ModelConfig, load_pretrained: bool = True, download_pretrained: bool = False) -> None:
        """``load_pretrained=False`` skips reading pre-trained encoder towers' official weights and drawing their
        random initialisation (for loaders that restore every weight from a saved model right after);
        ``download_pretrained`` lets a tower download them when they are not at hand."""
        super().__init__()
        self.cfg = cfg
        self.spectrogram = Spectrogram(cfg.stft)
        self.sde = SDES.get(cfg.sde.component)(cfg.sde)
        ctx = EncoderContext(cfg.sample_rate, cfg.stft, load_pretrained, download_pretrained)
        with aside():  # the backbone starts alike with or without an encoder (see backbones.layers.aside)
            self.encoder = ENCODERS.get(cfg.encoder.component)(cfg.encoder, ctx)
        spec = self.encoder.spec
        scale_by_time = cfg.loss == "score_matching" and cfg.parameterization == "sgmse"
        self.backbone = BACKBONES.get(cfg.backbone.component)(cfg.backbone, spec, cfg.conditioning.injection,
                                                               scale_by_time)
        self.null = NullCondition(spec, cfg.conditioning.null)
        if cfg.backbone.freq_bins != cfg.stft.freq_bins:
            raise ValueError(f"backbone freq_bins {cfg.backbone.freq_bins} != STFT bins {cfg.stft.freq_bins}")
        if cfg.pad_frames is not None and cfg.pad_frames % self.backbone.time_multiple:
            raise ValueError(f"model.pad_frames {cfg.pad_frames} is not a multiple of the backbone's "
                             f"{self.backbone.time_multiple} frames")

    @property
    def conditional(self) -> bool:
        """False for the unconditioned baseline (encoder ``none``)."""
        return not self.encoder.spec.is_empty

    def encode(self, ref: torch.Tensor | None, lengths: torch.Tensor | None = None,
               keys: Sequence[str] | None = None) -> Condition:
        """Encode a (peak-normalised) reference batch ``[B, R]``; the empty condition without encoder or reference.

        ``keys`` name each exact reference so that a frozen pre-trained encoder can cache its embeddings. A row
        with no valid sample (``lengths`` 0: a training item without reference) gets the null condition, as
        enhancement without a reference does; the encoder never sees an empty reference.
        """
        if ref is None or not self.conditional:
            return Condition()
        if lengths is None:
            return self.encoder(ref, None, keys)
        absent = lengths.to(ref.device) < 1
        cond = self.encoder(ref, torch.where(absent, ref.shape[-1], lengths.to(ref.device)), keys)
        return cond.where(absent, self.null.like(cond))

    def channels_last(self) -> "ScoreModel":
        """Store the score network's convolution weights channels-last (NHWC), the layout oneDNN (CPU) and cuDNN
        (GPU tensor cores) compute fastest; the function is unchanged up to float rounding (fp32: about 1e-5
        relative, ``tests/core/test_fast_inference.py``). Measured on the 2-core CPU: 1.25x (``base``, bf16) to
        1.34x (``tiny``, fp32) per forward pass (``benchmarks/bench_vs_sgmse.py``). For inference: a channels-last
        model's weights are not contiguous, which checkpoint writers refuse."""
        self.backbone.to(memory_format=torch.channels_last)
        return self

    def parameter_groups(self, lr: float) -> list[dict]:
        """Optimizer groups: everything trainable at ``lr``, except what the encoder groups itself
        (a frozen tower contributes nothing; a fine-tuned one may have its own rate)."""
        encoder_ids = {id(p) for p in self.encoder.parameters()}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in encoder_ids]
        return [{"params": rest, "lr": lr}, *self.encoder.parameter_groups(lr)]

    def null_condition(self, cond: Condition) -> Condition:
        """The null condition shaped like ``cond``."""
        return self.null.like(cond)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, cond: Condition | None = None) -> torch.Tensor:
        """The network's output for state ``x``, mixture ``y`` and condition: complex ``[B, 1, F, T]``, any T.

        Its meaning depends on ``cfg.loss`` and ``cfg.parameterization``; :meth:`output_to_score` and
        :meth:`output_to_clean` turn it into a score or a clean estimate. Frames beyond a multiple of the
        backbone's ``time_multiple`` are zero-padded for the call and cropped again.
        """
        frames = x.shape[-1]
        pad = (-frames) % self.backbone.time_multiple
        inputs = torch.cat([x.real, x.imag, y.real, y.imag], dim=1)
        if pad:
            inputs = F.pad(inputs, (0, pad))
        out = self.backbone(inputs, t, cond if cond is not None else Condition())[..., :frames]
        if out.dtype in (torch.float16, torch.bfloat16):  # mixed precision: the output itself stays in float32
            out = out.float()
        return torch.complex(out[:, :1], out[:, 1:2])

    def output_to_score(self, out: torch.Tensor, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The score ``grad log p_t(x | y)`` from a network output (see the module docstring)."""
        if self.cfg.loss == "data_prediction":
            std = expand(self.sde.marginal_std(t), x)
            return (self.sde.marginal_mean(out, y, t) - x) / std**2
        if self.cfg.parameterization == "noise":
            return -out / expand(self.sde.marginal_std(t), out)
        return out if self.cfg.parameterization == "score" else -out

    def output_to_clean(self, out: torch.Tensor, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The clean-spectrogram estimate ``E[x_0 | x_t, y]`` from a network output (Tweedie's formula for a
        score-matching network)."""
        if self.cfg.loss == "data_prediction":
            return out
        score = self.output_to_score(out, x, t, y)
        a, b = (expand(c, x) for c in self.sde.marginal_coefficients(t))
        std = expand(self.sde.marginal_std(t), x)
        return (x + std**2 * score - b * y) / a

    def score(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, cond: Condition | None = None) -> torch.Tensor:
        """The score of ``x_t`` given mixture ``y`` and condition: complex ``[B, 1, F, T]``, any T."""
        return self.output_to_score(self(x, t, y, cond), x, t, y)

    def clean(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, cond: Condition | None = None) -> torch.Tensor:
        """The clean-spectrogram estimate at ``x_t`` given mixture ``y`` and condition."""
        return self.output_to_clean(self(x, t, y, cond), x, t, y)


def build_model(cfg: ModelConfig | None = None, *, download_pretrained: bool = False) -> ScoreModel:
    """A freshly initialised model for ``cfg`` (default: the base NCSN++ with the CNN encoder);
    ``download_pretrained`` lets a pre-trained encoder download its official weights when they are not at hand."""
    return ScoreModel(cfg or ModelConfig(), download_pretrained=download_pretrained)
