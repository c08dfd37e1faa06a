"""PANNs Cnn14 as a noise encoder (the plan's PANNs-01 experiment, Sec. 4.2).

Kong, Cao, Iqbal, Wang, Wang, Plumbley, "PANNs: Large-Scale Pretrained Audio Neural Networks for Audio Pattern
Recognition", IEEE/ACM TASLP 2020. Cnn14 takes 32 kHz audio (log-mel, 64 bands, hop 320) and pools six
convolution blocks over time (max + mean) into a 2048-d embedding (``fc1``), here followed by a trainable
projection to the condition size.

The tower is the ``panns-inference`` package's own ``Cnn14`` (an optional extra: ``pip install 'ncse[panns]'``),
imported from ``panns_inference/models.py`` without the package ``__init__``: that ``__init__`` runs ``wget``
for an AudioSet label file at import time (leaving an empty ``~/panns_data/class_labels_indices.csv`` offline),
which an encoder does not need. The official checkpoint ``Cnn14_mAP=0.431.pth`` is a torch pickle dict whose
``model`` entry is the state dict (beside training state such as the sampler's numpy queues).

Cnn14 handles any length from 0.64 s (64 frames) on, but batching needs one length: references are fitted
to ``window_seconds`` (repeat-padded or centre-cropped, :func:`ncse_cli.encoders.pretrained.fit_window`); the
max + mean pooling makes whole repeats of a short reference nearly invisible to the embedding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch
from torch import nn

from ncse_cli.encoders.base import ENCODERS, EncoderContext
from ncse_cli.encoders.front_end import lean_front_end
from ncse_cli.encoders.pretrained import (OfficialWeights, PretrainedConfig, PretrainedEncoder, import_detached,
                                          load_exact, strip_prefix)

INSTALL = "pip install 'ncse[panns]'"
SAMPLE_RATE = 32000
#: Cnn14's front end as trained on AudioSet (panns_inference.AudioTagging builds the same).
CNN14_ARGS = {"sample_rate": SAMPLE_RATE, "window_size": 1024, "hop_size": 320, "mel_bins": 64, "fmin": 50,
              "fmax": 14000, "classes_num": 527}
#: Parameters that never shape the embedding: torchlibrosa's fixed STFT/mel matrices, the AudioSet classifier.
FIXED_PREFIXES = ("spectrogram_extractor.", "logmel_extractor.", "fc_audioset.")
#: The shortest window Cnn14 takes: its SpecAugment (active when fine-tuning) drops time stripes up to 64
#: frames wide, and its five 2x poolings need 32 frames.
MIN_SAMPLES = 64 * CNN14_ARGS["hop_size"]
PANNS_WEIGHTS = OfficialWeights(
    what="PANNs Cnn14", folder="panns", filename="Cnn14_mAP=0.431.pth",
    url="https://zenodo.org/record/3987831/files/Cnn14_mAP%3D0.431.pth?download=1", flag="--panns-ckpt",
    elsewhere=lambda: [Path.home() / "panns_data" / "Cnn14_mAP=0.431.pth"])  # panns_inference's own place


class Cnn14Tower(nn.Module):
    """``panns_inference.models.Cnn14``: 32 kHz ``[B, window] -> [B, 2048]`` (the ``embedding`` output)."""

    def __init__(self, window: int) -> None:
        super().__init__()
        models = import_detached("panns_inference", "models", install=INSTALL)
        with lean_front_end():
            self.cnn14 = models.Cnn14(**CNN14_ARGS)
        self.dim = self.cnn14.fc1.out_features
        self.sample_rate = SAMPLE_RATE
        self.window = window

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.cnn14(wave)["embedding"]

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters fine-tuning updates: all that shape the embedding."""
        return (p for name, p in self.cnn14.named_parameters() if not name.startswith(FIXED_PREFIXES))

    def load_official(self, obj: Mapping[str, Any], source: str) -> None:
        """Load from an official checkpoint dict (the state dict under ``model``) or a flat state dict."""
        state = obj["model"] if isinstance(obj.get("model"), Mapping) else obj
        load_exact(self.cnn14, strip_prefix(state), source, hint="; expected PANNs Cnn14_mAP=0.431.pth (32 kHz)")


@ENCODERS.register("panns")
class PANNsEncoder(PretrainedEncoder):
    """PANNs Cnn14 embedding of the reference, then a trainable projection to ``dim``."""

    weights = PANNS_WEIGHTS

    @dataclass(frozen=True)
    class Config(PretrainedConfig):
        """``ckpt``: ``Cnn14_mAP=0.431.pth`` (also found in ~/panns_data, where panns-inference keeps it)."""

        window_seconds: float = 2.0  #: references are repeat-padded / centre-cropped to this length

        def __post_init__(self) -> None:
            super().__post_init__()
            if self.window_seconds * SAMPLE_RATE < MIN_SAMPLES:
                raise ValueError(f"window_seconds must be at least {MIN_SAMPLES / SAMPLE_RATE:.2f} "
                                 f"(64 Cnn14 frames), got {self.window_seconds}")

    def __init__(self, cfg: Config | None = None, ctx: EncoderContext = EncoderContext()) -> None:
        cfg = cfg or self.Config()
        super().__init__(cfg, ctx, lambda: Cnn14Tower(round(cfg.window_seconds * SAMPLE_RATE)))


__all__ = ["Cnn14Tower", "PANNsEncoder", "PANNS_WEIGHTS"]
