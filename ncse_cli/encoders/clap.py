"""The LAION-CLAP audio tower as a noise encoder (the plan's CLAP-01/02/CFG experiments, Sec. 4.2 and A.3).

Wu*, Chen*, Zhang*, Hui*, Berg-Kirkpatrick, Dubnov, "Large-scale Contrastive Language-Audio Pretraining with
Feature Fusion and Keyword-to-Caption Augmentation", ICASSP 2023 (arXiv:2211.06687). The audio branch is
HTS-AT (Chen et al., ICASSP 2022) followed by CLAP's audio projection (Linear, ReLU, Linear) into the 512-d joint
space, L2-normalised as in ``CLAP_Module.get_audio_embedding_from_data``.

Only the audio branch is built, from the ``laion-clap`` package's own classes (``clap_module.htsat`` and the
``model_configs/<amodel>.json`` it ships): ``CLAP_Module`` would also build the RoBERTa text tower, which needs
the Hugging Face hub. The weights come from the official non-fusion checkpoints (``630k-audioset-best.pt``,
``630k-best.pt``): a torch pickle with a ``state_dict`` whose keys read ``module.audio_branch.*``,
``module.audio_projection.*``, ``module.text_branch.*`` ...; the audio keys are kept, the rest ignored.

The non-fusion tower sees exactly 10 s at 48 kHz (480 000 samples; it stretches anything shorter to its
1024-frame input). A 16 kHz reference is resampled to 48 kHz and repeat-padded or centre-cropped to that window
(:func:`ncse_cli.encoders.pretrained.fit_window`), so encoding costs the same for any reference length.
"""

from __future__ import annotations

import importlib.util
import json
import os
import types
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ncse_cli.encoders.base import ENCODERS, EncoderContext
from ncse_cli.encoders.front_end import lean_front_end
from ncse_cli.encoders.pretrained import (OfficialWeights, PretrainedConfig, PretrainedEncoder, PretrainedWeightsError,
                                          downloads_allowed, import_detached, load_exact, own_initialisers_skipped,
                                          strip_prefix)
from ncse_cli.errors import NcseError

INSTALL = "pip install laion-clap"
#: Prefixes of the tower's own keys in an official checkpoint (after ``module.``); the rest is the text side.
AUDIO_PREFIXES = ("audio_branch.", "audio_projection.")
#: Parameters that never shape the embedding: torchlibrosa's fixed STFT/mel matrices, AudioSet tagging heads.
FIXED_PREFIXES = ("audio_branch.spectrogram_extractor.", "audio_branch.logmel_extractor.",
                  "audio_branch.tscam_conv.", "audio_branch.head.")
#: What ``clap_module/utils.py`` imports at its top but only calls in a helper ncse never runs (see
#: :func:`~ncse_cli.encoders.pretrained.deferred_imports`): importing torchvision costs 2.9 s.
DEFERRED = {"torchvision.ops.misc": ("FrozenBatchNorm2d",)}


def _package_copy() -> list[Path]:
    """Where ``CLAP_Module.load_ckpt()`` keeps its download: inside the installed laion_clap package."""
    spec = importlib.util.find_spec("laion_clap")
    locations = spec.submodule_search_locations if spec is not None else None
    return [Path(location) / "630k-audioset-best.pt" for location in locations or []]


CLAP_WEIGHTS = OfficialWeights(
    what="LAION-CLAP HTSAT-tiny", folder="clap", filename="630k-audioset-best.pt",
    url="https://huggingface.co/lukewys/laion_clap/resolve/main/630k-audioset-best.pt", flag="--clap-ckpt",
    elsewhere=_package_copy)


def _clap_module(name: str) -> types.ModuleType:
    """A module of ``laion_clap/clap_module`` imported without the package ``__init__`` (which pulls in
    transformers and the hub); hub libraries are told to stay offline unless downloads are allowed."""
    if not downloads_allowed():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    return import_detached("laion_clap", name, subdir="clap_module", install=INSTALL, deferred=DEFERRED)


def htsat_module() -> types.ModuleType:
    """laion-clap's ``htsat`` module: the HTS-AT audio branch, and the init functions (``trunc_normal_``) its layers
    call instead of ``torch.nn.init``'s."""
    return _clap_module("htsat")


def model_configs_dir() -> Path:
    """The ``model_configs`` folder shipped inside ``laion_clap/clap_module``."""
    return Path(htsat_module().__file__).parent / "model_configs"


def audio_models() -> list[str]:
    """The HTS-AT audio architectures the installed laion-clap ships configs for."""
    return sorted(p.stem for p in model_configs_dir().glob("HTSAT-*.json"))


def read_model_config(amodel: str) -> dict[str, Any]:
    """``embed_dim`` and ``audio_cfg`` of a shipped HTS-AT model config."""
    path = model_configs_dir() / f"{amodel}.json"
    if not path.is_file():
        raise NcseError(f"unknown CLAP audio model {amodel!r}; available: {', '.join(audio_models())}")
    return json.loads(path.read_text())


class CLAPAudioTower(nn.Module):
    """HTS-AT audio branch + CLAP audio projection: 48 kHz ``[B, 480000] -> [B, 512]`` unit vectors."""

    def __init__(self, amodel: str = "HTSAT-tiny", joint_dim: int = 512) -> None:
        super().__init__()
        config = read_model_config(amodel)
        audio_cfg = types.SimpleNamespace(**config["audio_cfg"])
        htsat = htsat_module()
        # upstream calls torch.meshgrid without indexing=
        with warnings.catch_warnings(), lean_front_end(), own_initialisers_skipped(htsat):
            warnings.filterwarnings("ignore", message=r"torch\.meshgrid", category=UserWarning)
            self.audio_branch = htsat.create_htsat_model(audio_cfg, enable_fusion=False)
        self.audio_projection = nn.Sequential(nn.Linear(config["embed_dim"], joint_dim), nn.ReLU(),
                                              nn.Linear(joint_dim, joint_dim))
        self.dim = joint_dim
        self.sample_rate = int(audio_cfg.sample_rate)
        self.window = int(audio_cfg.clip_samples)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        hidden = self.audio_branch({"waveform": wave}, device=wave.device)["embedding"]
        return F.normalize(self.audio_projection(hidden), dim=-1)

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters fine-tuning updates: all that shape the embedding."""
        return (p for name, p in self.named_parameters() if not name.startswith(FIXED_PREFIXES))

    def load_official(self, obj: Mapping[str, Any], source: str) -> None:
        """Load from an official checkpoint dict (``state_dict`` with ``module.`` keys) or a flat state dict."""
        state = obj["state_dict"] if isinstance(obj.get("state_dict"), Mapping) else obj
        state = strip_prefix(state)
        audio = {k: v for k, v in state.items() if k.startswith(AUDIO_PREFIXES)}
        if not audio:
            raise PretrainedWeightsError(f"{source}: no audio_branch / audio_projection weights; "
                                         f"not a LAION-CLAP checkpoint")
        load_exact(self, audio, source, hint="; ncse uses the non-fusion HTSAT-tiny checkpoints "
                                              "630k-audioset-best.pt or 630k-best.pt")


@ENCODERS.register("clap")
class CLAPEncoder(PretrainedEncoder):
    """LAION-CLAP audio embedding of the reference, then a trainable projection to ``dim``."""

    weights = CLAP_WEIGHTS

    @dataclass(frozen=True)
    class Config(PretrainedConfig):
        """``ckpt``: ``630k-audioset-best.pt`` or ``630k-best.pt``; ``amodel``: a shipped non-fusion HTS-AT."""

        amodel: str = "HTSAT-tiny"

    def __init__(self, cfg: Config | None = None, ctx: EncoderContext = EncoderContext()) -> None:
        cfg = cfg or self.Config()
        super().__init__(cfg, ctx, lambda: CLAPAudioTower(cfg.amodel))


__all__ = ["CLAPAudioTower", "CLAPEncoder", "CLAP_WEIGHTS", "audio_models"]
