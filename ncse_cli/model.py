"""The noise-conditioned score model s(x_t, y, z_r, t): spectrogram, SDE, noise encoder, backbone, null condition.

The score network of SGMSE+ (Richter et al., TASLP 2023) takes the diffusion state x_t and the mixture y as
input channels; here it also receives z_r, the encoding of a short noise-only reference, and a null condition
for classifier-free guidance (Ho & Salimans 2022).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ncse_cli.backbones import BACKBONES
from ncse_cli.conditioning import Condition, NullCondition
from ncse_cli.config import component_field
from ncse_cli.encoders import ENCODERS, EncoderContext
from ncse_cli.sde import SDES
from ncse_cli.tensors import expand
from ncse_cli.stft import Spectrogram, STFTConfig


@dataclass(frozen=True)
class ConditioningConfig:
    """How the condition enters the backbone and what the null condition is."""

    injection: Literal["add", "film"] = "add"
    null: Literal["zeros", "learned"] = "zeros"


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model: the run directory's ``model:`` section."""

    sample_rate: int = 16000
    stft: STFTConfig = field(default_factory=STFTConfig)
    sde: Any = component_field(SDES, lambda: SDES.get("ouve").Config())
    backbone: Any = component_field(BACKBONES, lambda: BACKBONES.get("base").Config())
    encoder: Any = component_field(ENCODERS, lambda: ENCODERS.get("cnn").Config())
    conditioning: ConditioningConfig = field(default_factory=ConditioningConfig)
    #: ``noise``: the network predicts the normalised noise and score = -output / std(t) (NCSN++'s
    #: scale_by_sigma); ``score``: the output is the score itself, as in SGMSE+'s released code.
    parameterization: Literal["noise", "score"] = "noise"


class ScoreModel(nn.Module):
    """Noise-conditioned score model on compressed complex spectrograms ``[B, 1, F, T]``."""

    def __init__(self, cfg: ModelConfig, load_pretrained: bool = True, download_pretrained: bool = False) -> None:
        """``load_pretrained=False`` skips reading pre-trained encoder towers' official weights (for loaders that
        restore every weight from a saved model right after); ``download_pretrained`` lets a tower download them
        when they are not at hand."""
        super().__init__()
        self.cfg = cfg
        self.spectrogram = Spectrogram(cfg.stft)
        self.sde = SDES.get(cfg.sde.component)(cfg.sde)
        ctx = EncoderContext(cfg.sample_rate, cfg.stft, load_pretrained, download_pretrained)
        self.encoder = ENCODERS.get(cfg.encoder.component)(cfg.encoder, ctx)
        spec = self.encoder.spec
        self.backbone = BACKBONES.get(cfg.backbone.component)(cfg.backbone, spec, cfg.conditioning.injection)
        self.null = NullCondition(spec, cfg.conditioning.null)
        if cfg.backbone.freq_bins != cfg.stft.freq_bins:
            raise ValueError(f"backbone freq_bins {cfg.backbone.freq_bins} != STFT bins {cfg.stft.freq_bins}")

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

    def parameter_groups(self, lr: float) -> list[dict]:
        """Optimizer groups: everything trainable at ``lr``, except what the encoder groups itself
        (a frozen tower contributes nothing; a fine-tuned one may have its own rate)."""
        encoder_ids = {id(p) for p in self.encoder.parameters()}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in encoder_ids]
        return [{"params": rest, "lr": lr}, *self.encoder.parameter_groups(lr)]

    def null_condition(self, cond: Condition) -> Condition:
        """The null condition shaped like ``cond``."""
        return self.null.like(cond)

    def score(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, cond: Condition | None = None) -> torch.Tensor:
        """The score of ``x_t`` given mixture ``y`` and condition: complex ``[B, 1, F, T]``, any T."""
        frames = x.shape[-1]
        pad = (-frames) % self.backbone.time_multiple
        inputs = torch.cat([x.real, x.imag, y.real, y.imag], dim=1)
        if pad:
            inputs = F.pad(inputs, (0, pad))
        out = self.backbone(inputs, t, cond if cond is not None else Condition())[..., :frames]
        if out.dtype in (torch.float16, torch.bfloat16):  # mixed precision: the score itself stays in float32
            out = out.float()
        out = torch.complex(out[:, :1], out[:, 1:2])
        if self.cfg.parameterization == "noise":
            out = -out / expand(self.sde.marginal_std(t), out)
        return out

    forward = score


def build_model(cfg: ModelConfig | None = None, *, download_pretrained: bool = False) -> ScoreModel:
    """A freshly initialised model for ``cfg`` (default: the base NCSN++ with the CNN encoder);
    ``download_pretrained`` lets a pre-trained encoder download its official weights when they are not at hand."""
    return ScoreModel(cfg or ModelConfig(), download_pretrained=download_pretrained)
