"""The plan's sequence noise encoder for cross-attention conditioning (noise_conditioning_plan.md, Sec. 2.3).

Global average pooling over time (the ``cnn`` encoder) throws away how the noise changes: a door slam, passing
traffic, babble that swells. This encoder keeps the same convolutional trunk but pools the trunk's output to a
fixed grid of ``num_tokens`` time steps by ``freq_pool`` frequency bands and projects each time step to a token
of the condition size; the score network attends to the tokens with cross-attention.

**Variable-length references: each reference is encoded at its own length.** The batch is grouped by valid
length and every group runs through the trunk cropped to that length (one call when all references are equally
long, the usual training case), then pools to the fixed grid with adaptive average pooling, exactly the plan's
``AdaptiveAvgPool2d((4, num_tokens))`` on the reference alone. Pooling the zero-padded batch instead would blur
padding into the last tokens, let padding into the trunk's GroupNorm statistics and make a reference's tokens
depend on what else is in its batch. So no token is made of padding and the mask is all true. One trunk frame is
16 STFT hops (128 ms at 16 kHz): a reference shorter than ``num_tokens`` trunk frames (2 s for 16 tokens) gives
repeated neighbouring tokens, a warning says so once.

The tokens carry no positional encoding: the reference is not time-aligned with the mixture, so cross-attention
treats them as a set of noise events to pick from, not as a timeline.

``clap-sequence`` takes its tokens from a pre-trained tower instead: the time-ordered fine-grained output of
LAION-CLAP's HTS-AT (Chen et al., "HTS-AT: A Hierarchical Token-Semantic Audio Transformer for Sound
Classification and Detection", ICASSP 2022), 32 latent steps over the tower's 10 s window (312.5 ms each).
The reference is repeat-padded to that window as for ``clap``; only the frames of its first copy are pooled into
tokens, so repeats never masquerade as a changing noise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from ncse_cli.conditioning import Condition, ConditionSpec
from ncse_cli.encoders.base import ENCODERS, EncoderContext
from ncse_cli.encoders.clap import CLAP_WEIGHTS, FIXED_PREFIXES, CLAPAudioTower, CLAPEncoder, read_model_config
from ncse_cli.encoders.cnn import CNNEncoder, band_levels, length_groups
from ncse_cli.encoders.pretrained import PretrainedEncoder, resampled_lengths

log = logging.getLogger("ncse")


@ENCODERS.register("sequence")
class SequenceEncoder(CNNEncoder):
    """CNN trunk without global pooling -> ``num_tokens`` tokens of size ``dim`` (and optionally their mean).

    The trunk and the two-layer head are the global-pool encoder's (the head runs on every token); only the
    pooling differs, so ``sequence`` against ``cnn`` is a clean ablation of the plan's Solution C. With
    ``vector: true`` the mean token also feeds the backbone's global injection (``add`` / ``film``), combining
    global and cross-attention conditioning; by default the tokens feed cross-attention alone.
    """

    @dataclass(frozen=True)
    class Config(CNNEncoder.Config):
        num_tokens: int = 16
        vector: bool = False

        def __post_init__(self) -> None:
            if self.num_tokens < 1 or self.freq_pool < 1:
                raise ValueError(f"num_tokens and freq_pool must be positive, got {self.num_tokens}, "
                                 f"{self.freq_pool}")

    def __init__(self, cfg: Config | None = None, ctx: EncoderContext = EncoderContext()) -> None:
        cfg = cfg or self.Config()
        super().__init__(cfg, ctx)
        self.spec = ConditionSpec(vector_dim=cfg.dim if cfg.vector else None, token_dim=cfg.dim,
                                  num_tokens=cfg.num_tokens)
        self._warned_short = False

    def forward(self, ref: torch.Tensor, lengths: torch.Tensor | None = None,
                keys: Sequence[str] | None = None) -> Condition:
        """``ref [B, R]`` -> ``tokens [B, num_tokens, dim]``, an all-true ``mask`` and, if configured, ``vector``."""
        groups = length_groups(ref, lengths)
        grid = torch.cat([self._grid(ref[rows, :length]) for rows, length in groups])
        grid = grid[torch.argsort(torch.cat([rows for rows, _ in groups]))]  # back to batch order
        tokens = self.head(grid)
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        return Condition(vector=tokens.mean(1) if self.cfg.vector else None, tokens=tokens, mask=mask)

    def _grid(self, ref: torch.Tensor) -> torch.Tensor:
        """Equal-length references ``[b, R]`` -> per token the pooled trunk features and the band levels of its
        stretch of the reference: ``[b, num_tokens, C * freq_pool + level_bands]``."""
        spec = self.trunk.spectrum(ref)
        h = self.trunk.features(spec)  # [b, C, F', T']
        # a silent reference (the shape-only stand-in of unconditional enhancement) has no changes to resolve
        if h.shape[-1] < self.cfg.num_tokens and not self._warned_short and bool(ref.any()):
            self._warned_short = True
            log.warning("sequence encoder: a %d-sample reference gives %d trunk frames for %d tokens, so "
                        "neighbouring tokens repeat; longer references resolve more of how the noise changes",
                        ref.shape[-1], h.shape[-1], self.cfg.num_tokens)
        grid = F.adaptive_avg_pool2d(h, (self.cfg.freq_pool, self.cfg.num_tokens)).permute(0, 3, 1, 2).flatten(2)
        if not self.cfg.level_bands:
            return grid
        return torch.cat([grid, band_levels(spec, self.cfg.level_bands, self.cfg.num_tokens)], dim=2)


def pool_valid_frames(frames: torch.Tensor, valid: torch.Tensor, tokens: int) -> torch.Tensor:
    """``frames [B, T, C]`` -> ``[B, tokens, C]``: adaptive average pooling of each row's first ``valid[b]`` frames.

    Token ``i`` of row ``b`` averages frames ``floor(i n / tokens) <= f < ceil((i + 1) n / tokens)`` with
    ``n = valid[b]``, the windows of ``torch.nn.AdaptiveAvgPool1d``; frames at or past ``n`` get no weight.
    """
    n = valid.to(frames.device, torch.long).clamp(1, frames.shape[1])[:, None, None]
    index = torch.arange(tokens, device=frames.device)[None, :, None]
    frame = torch.arange(frames.shape[1], device=frames.device)[None, None, :]
    inside = (frame >= index * n // tokens) & (frame < ((index + 1) * n + tokens - 1) // tokens)
    weights = inside.to(frames.dtype)
    return torch.bmm(weights / weights.sum(-1, keepdim=True), frames)


class CLAPFrameTower(CLAPAudioTower):
    """HTS-AT's fine-grained output: 48 kHz ``[B, 480000] -> [B, 1024, 768]``, time-ordered over the window."""

    def __init__(self, amodel: str = "HTSAT-tiny") -> None:
        super().__init__(amodel)
        self.dim = read_model_config(amodel)["embed_dim"]

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.audio_branch({"waveform": wave}, device=wave.device)["fine_grained_embedding"]

    def trainable_parameters(self):
        """Fine-tuning updates the audio branch; CLAP's projection of the clip embedding never sees a frame."""
        skip = FIXED_PREFIXES + ("audio_projection.",)
        return (p for name, p in self.named_parameters() if not name.startswith(skip))


@ENCODERS.register("clap-sequence")
class CLAPSequenceEncoder(PretrainedEncoder):
    """LAION-CLAP's frame-level features as ``num_tokens`` tokens (a trainable projection to ``dim`` each).

    Frozen or fine-tuned and cached like ``clap`` (one entry holds a reference's ``num_tokens`` tower tokens,
    hence the smaller default cache). ``vector: true`` also feeds the mean token to the global injection.
    """

    weights = CLAP_WEIGHTS

    @dataclass(frozen=True)
    class Config(CLAPEncoder.Config):
        num_tokens: int = 8
        vector: bool = False
        cache_size: int = 2048

        def __post_init__(self) -> None:
            super().__post_init__()
            if self.num_tokens < 1:
                raise ValueError(f"num_tokens must be positive, got {self.num_tokens}")

    def __init__(self, cfg: Config | None = None, ctx: EncoderContext = EncoderContext()) -> None:
        cfg = cfg or self.Config()
        super().__init__(cfg, ctx, lambda: CLAPFrameTower(cfg.amodel))
        self.spec = ConditionSpec(vector_dim=cfg.dim if cfg.vector else None, token_dim=cfg.dim,
                                  num_tokens=cfg.num_tokens)

    def forward(self, ref: torch.Tensor, lengths: torch.Tensor | None = None,
                keys: Sequence[str] | None = None) -> Condition:
        """``ref [B, R]`` -> ``tokens [B, num_tokens, dim]``, an all-true ``mask`` and, if configured, ``vector``."""
        tokens = super().forward(ref, lengths, keys).vector  # the parent's projection, applied token by token
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        return Condition(vector=tokens.mean(1) if self.cfg.vector else None, tokens=tokens, mask=mask)

    def run_tower(self, ref: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The tower's frames over the first copy of each reference, pooled to ``[B, num_tokens, 768]``."""
        frames = super().run_tower(ref, lengths)  # [B, 1024, 768] over the repeat-padded window
        window = self.tower.window
        covered = resampled_lengths(lengths, self.model_rate, self.tower.sample_rate).clamp_max(window)
        valid = (covered * frames.shape[1] + window - 1) // window
        return pool_valid_frames(frames, valid, self.cfg.num_tokens)
