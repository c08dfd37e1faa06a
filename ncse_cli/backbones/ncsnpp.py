"""NCSN++ U-Net score network in the SGMSE+ setting, with noise conditioning.

Song et al., "Score-Based Generative Modeling through Stochastic Differential Equations", ICLR 2021 (NCSN++:
Gaussian Fourier time embedding, BigGAN residual blocks, FIR resampling, input-skip and output-skip pyramids,
self-attention); configured as in Richter et al., "Speech Enhancement and Dereverberation with Diffusion-based
Generative Models", TASLP 2023 (``base``: channel multipliers 1,1,2,2,2,2,2, two residual blocks per level,
attention at resolution 16). The input is ``[x_t, y]`` as real/imaginary channels, the output two real channels.

With the defaults the network is SGMSE+'s ``ncsnpp`` exactly (proved against the reference package in
``tests/backbones/test_sgmse_reference.py``): Gaussian Fourier features of ``log t``; an output pyramid of four
channels that is divided by ``t`` (SGMSE+'s ``scale_by_sigma`` with ``used_sigmas = t``) and mapped to two
channels by a 1x1 convolution with bias (``output_layer``); NCSN++'s DDPM initialisation. Without the division
by ``t`` (``scale_by_time=False``) it is SGMSE+'s ``ncsnpp_v2``, the data predictor of the Schrodinger bridge.
``progressive: none``, ``progressive_input: none``, ``attn_resolutions: []`` and ``divide_after_output_layer: true``
make it SGMSE+'s full-band ``ncsnpp_48k`` (Richter et al., "EARS", Interspeech 2024): no input pyramid, one
output head after the last up stage instead of a head per level, no self-attention but the middle block's, and
the 1x1 output layer applied before the division by ``t``. ``embedding: linear`` and ``output_layer: false``
rebuild the models of ncse 0.1.

The noise condition enters every residual block, either added to the time embedding
(``add``) or as per-block FiLM (``film``); condition tokens (the sequence encoder) enter through residual
cross-attention blocks (:class:`~ncse_cli.backbones.layers.CrossAttnBlock`, plan Sec. 2.3) after the residual
blocks of chosen levels and in the middle.

Resolutions count frequency bins (256 at the top level), so attention placement does not depend on the length
of the utterance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ncse_cli.backbones.base import BACKBONES
from ncse_cli.backbones.layers import (AttnBlock, CrossAttnBlock, FIRResample, GaussianFourierProjection,
                                       ResnetBlockBigGAN, aside, ddpm_init, group_norm, zero_init)
from ncse_cli.conditioning import Condition, ConditionSpec
from ncse_cli.config import ConfigError

Injection = Literal["add", "film", "profile"]


@BACKBONES.register("base")
class NCSNpp(nn.Module):
    """The NCSN++ U-Net; ``base`` is the SGMSE+ VoiceBank-DEMAND configuration (about 65 M parameters)."""

    @dataclass(frozen=True)
    class Config:
        nf: int = 128
        ch_mult: tuple[int, ...] = (1, 1, 2, 2, 2, 2, 2)
        num_res_blocks: int = 2
        attn_resolutions: tuple[int, ...] = (16,)
        dropout: float = 0.0
        fourier_scale: float = 16.0
        freq_bins: int = 256
        in_channels: int = 4
        out_channels: int = 2
        #: Resolutions (frequency bins) with cross-attention to condition tokens. ``None`` (auto): none for an
        #: encoder without tokens; with tokens, the self-attention resolutions and every coarser level, where
        #: attention is affordable. An explicit list must match the encoder: tokens need at least one level.
        xattn_resolutions: tuple[int, ...] | None = None
        xattn_heads: int = 8
        #: Fourier features of ``log t`` (SGMSE+) or of ``t`` (ncse 0.1).
        embedding: Literal["log", "linear"] = "log"
        #: SGMSE+'s head: a four-channel output pyramid, then a 1x1 convolution with bias to ``out_channels``.
        #: ``False``: the pyramid itself has ``out_channels`` (ncse 0.1).
        output_layer: bool = True
        #: Cross-attention residual divided by sqrt(2) (ncse 0.1); ``False`` keeps a new block the identity.
        xattn_skip_rescale: bool = False
        #: NCSN++'s output pyramid: ``output_skip`` sums a head at every level of the up path into an upsampled
        #: pyramid (SGMSE+'s ``ncsnpp``); ``none`` has one head after the last up stage (``ncsnpp_48k``).
        progressive: Literal["output_skip", "none"] = "output_skip"
        #: NCSN++'s input pyramid: ``input_skip`` adds the FIR-downsampled input through a 1x1 convolution after
        #: every downsampling (``ncsnpp``); ``none`` does not (``ncsnpp_48k``).
        progressive_input: Literal["input_skip", "none"] = "input_skip"
        #: Where the division by ``t`` (score matching) goes: after the 1x1 ``output_layer``, so that its bias is
        #: divided too (``ncsnpp_48k``), or before it (``ncsnpp``).
        divide_after_output_layer: bool = False

        def __post_init__(self) -> None:
            if self.freq_bins % 2 ** (len(self.ch_mult) - 1):
                raise ValueError(f"freq_bins {self.freq_bins} is not divisible by 2^{len(self.ch_mult) - 1}")
            resolutions = [self.freq_bins // 2**lvl for lvl in range(len(self.ch_mult))]
            unknown = sorted(set(self.xattn_resolutions or ()) - set(resolutions))
            if unknown:
                raise ValueError(f"xattn_resolutions {unknown} are not levels of this U-Net (levels: {resolutions})")
            if self.xattn_heads < 1:
                raise ValueError(f"xattn_heads must be at least 1, got {self.xattn_heads}")

    def __init__(self, cfg: Config, cond: ConditionSpec = ConditionSpec(), injection: Injection = "add",
                 scale_by_time: bool = True) -> None:
        """``scale_by_time`` divides the output pyramid by the time input, as SGMSE+'s score network does."""
        super().__init__()
        self.cfg = cfg
        self.scale_by_time = scale_by_time
        self.injection = injection if cond.vector_dim else None
        if injection not in ("add", "film", "profile"):
            raise ValueError(f"unknown injection {injection!r}; choose add, film or profile")
        if self.injection == "profile" and cond.vector_dim != cfg.freq_bins:
            raise ValueError(f"the profile injection needs a condition of one value per frequency bin "
                             f"({cfg.freq_bins}, e.g. encoder 'profile'), got {cond.vector_dim}")
        nf, levels = cfg.nf, len(cfg.ch_mult)
        temb_dim = 4 * nf
        film_dim = cond.vector_dim if self.injection == "film" else None
        self.levels = levels
        self.attn_levels = {lvl for lvl in range(levels) if cfg.freq_bins // 2**lvl in cfg.attn_resolutions}
        self.xattn_levels = self._xattn_levels(cond)
        self.token_dim = cond.token_dim

        self.time_embed = nn.Sequential(GaussianFourierProjection(nf, cfg.fourier_scale),
                                        ddpm_init(nn.Linear(2 * nf, temb_dim)), nn.SiLU(),
                                        ddpm_init(nn.Linear(temb_dim, temb_dim)))
        with aside():
            self.cond_embed = (nn.Sequential(nn.Linear(cond.vector_dim, temb_dim), nn.SiLU(),
                                             zero_init(nn.Linear(temb_dim, temb_dim)))
                               if self.injection == "add" else None)

        def block(cin: int, cout: int, **kw) -> ResnetBlockBigGAN:
            return ResnetBlockBigGAN(cin, cout, temb_dim, film_dim, dropout=cfg.dropout, **kw)

        self.conv_in = ddpm_init(nn.Conv2d(cfg.in_channels, nf, 3, padding=1))
        with aside():
            self.profile_in = zero_init(nn.Conv2d(1, nf, 3, padding=1)) if self.injection == "profile" else None
        self.down, skip_channels, ch = self._build_down(block), [nf], nf
        input_skip = cfg.progressive_input == "input_skip"
        self.input_skips = nn.ModuleList() if input_skip else None
        for lvl in range(levels):
            out = nf * cfg.ch_mult[lvl]
            skip_channels += [out] * cfg.num_res_blocks
            ch = out
            if lvl < levels - 1:
                skip_channels.append(ch)
                if input_skip:
                    self.input_skips.append(ddpm_init(nn.Conv2d(cfg.in_channels, ch, 1)))
        self.input_pyramid = FIRResample(cfg.in_channels, up=False) if input_skip else None
        self.mid = nn.ModuleList([block(ch, ch), AttnBlock(ch), block(ch, ch)])
        self.mid_xattn = self._cross_attention(ch) if levels - 1 in self.xattn_levels else None
        head_channels = cfg.in_channels if cfg.output_layer else cfg.out_channels
        self.up, self.output_heads = self._build_up(block, skip_channels, ch, head_channels)
        output_skip = cfg.progressive == "output_skip"
        self.output_pyramid = FIRResample(head_channels, up=True) if output_skip else None
        self.output_head = None if output_skip else self._head(nf * cfg.ch_mult[0], head_channels)
        self.output_layer = nn.Conv2d(head_channels, cfg.out_channels, 1) if cfg.output_layer else None

    def _build_down(self, block) -> nn.ModuleList:
        cfg, nf = self.cfg, self.cfg.nf
        stages, ch = nn.ModuleList(), nf
        for lvl in range(self.levels):
            out, stage = nf * cfg.ch_mult[lvl], nn.ModuleDict()
            stage["res"] = nn.ModuleList([block(ch if i == 0 else out, out) for i in range(cfg.num_res_blocks)])
            ch = out
            if lvl in self.attn_levels:
                stage["attn"] = nn.ModuleList([AttnBlock(out) for _ in range(cfg.num_res_blocks)])
            if lvl in self.xattn_levels:
                stage["xattn"] = nn.ModuleList([self._cross_attention(out) for _ in range(cfg.num_res_blocks)])
            if lvl < self.levels - 1:
                stage["downsample"] = block(ch, ch, down=True)
            stages.append(stage)
        return stages

    def _build_up(self, block, skip_channels: list[int], ch: int,
                  head_channels: int) -> tuple[nn.ModuleList, nn.ModuleList | None]:
        """The up stages, and with the output pyramid one head per stage (``None`` without it)."""
        cfg, nf = self.cfg, self.cfg.nf
        stages = nn.ModuleList()
        heads = nn.ModuleList() if cfg.progressive == "output_skip" else None
        for lvl in reversed(range(self.levels)):
            out, stage = nf * cfg.ch_mult[lvl], nn.ModuleDict()
            res = []
            for _ in range(cfg.num_res_blocks + 1):
                res.append(block(ch + skip_channels.pop(), out))
                ch = out
            stage["res"] = nn.ModuleList(res)
            if lvl in self.attn_levels:
                stage["attn"] = AttnBlock(ch)
            if lvl in self.xattn_levels:
                stage["xattn"] = self._cross_attention(ch)
            if lvl > 0:
                stage["upsample"] = block(ch, ch, up=True)
            stages.append(stage)
            if heads is not None:
                heads.append(self._head(ch, head_channels))
        return stages, heads

    @staticmethod
    def _head(channels: int, out_channels: int) -> nn.Sequential:
        """GroupNorm, SiLU and a 3x3 convolution that starts at zero (NCSN++'s ``init_scale=0``)."""
        return nn.Sequential(group_norm(channels), nn.SiLU(),
                             zero_init(nn.Conv2d(channels, out_channels, 3, padding=1)))

    def _xattn_levels(self, cond: ConditionSpec) -> set[int]:
        """Levels with cross-attention; tokens without cross-attention (or the reverse) is a config error."""
        cfg = self.cfg
        resolutions = [cfg.freq_bins // 2**lvl for lvl in range(self.levels)]
        chosen = cfg.xattn_resolutions
        if chosen is None:
            if not cond.token_dim:
                return set()
            finest = max(cfg.attn_resolutions, default=resolutions[-1])
            chosen = tuple(r for r in resolutions if r <= finest)
        if cond.token_dim and not chosen:
            raise ConfigError("backbone.xattn_resolutions is empty, but the encoder produces tokens that only "
                              "cross-attention reads; list resolutions (e.g. [16]) or leave it unset (auto)")
        if chosen and not cond.token_dim:
            raise ConfigError(f"backbone.xattn_resolutions {list(chosen)} needs an encoder that produces tokens "
                              "(e.g. sequence); this encoder gives none")
        levels = {lvl for lvl, r in enumerate(resolutions) if r in chosen}
        for lvl in levels:
            if (cfg.nf * cfg.ch_mult[lvl]) % cfg.xattn_heads:
                raise ConfigError(f"backbone.xattn_heads {cfg.xattn_heads} does not divide the "
                                  f"{cfg.nf * cfg.ch_mult[lvl]} channels at resolution {resolutions[lvl]}")
        return levels

    def _cross_attention(self, channels: int) -> CrossAttnBlock:
        with aside():
            return CrossAttnBlock(channels, self.token_dim, self.cfg.xattn_heads, self.cfg.xattn_skip_rescale)

    @property
    def time_multiple(self) -> int:
        """The number of frames must be a multiple of this (one halving per level below the top)."""
        return 2 ** (self.levels - 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: Condition | None = None) -> torch.Tensor:
        """``x [B, in_channels, freq_bins, T]`` (T a multiple of :attr:`time_multiple`), ``t [B]``."""
        cond = cond if cond is not None else Condition()
        temb = self._embed(t, cond)
        film, xattn = self._film(cond), self._xattn(cond)
        hs = [self.conv_in(x) + self._profile(cond, x)]
        pyramid = x
        for lvl, stage in enumerate(self.down):
            for i, res in enumerate(stage["res"]):
                h = res(hs[-1], temb, film(res))
                h = stage["attn"][i](h) if "attn" in stage else h
                hs.append(xattn(stage["xattn"][i], h) if "xattn" in stage else h)
            if "downsample" in stage:
                h = stage["downsample"](hs[-1], temb, film(stage["downsample"]))
                if self.input_skips is not None:
                    pyramid = self.input_pyramid(pyramid)
                    h = h + self.input_skips[lvl](pyramid)
                hs.append(h)
        h = self.mid[1](self.mid[0](hs[-1], temb, film(self.mid[0])))
        h = xattn(self.mid_xattn, h) if self.mid_xattn is not None else h
        h = self.mid[2](h, temb, film(self.mid[2]))
        out = None
        for k, stage in enumerate(self.up):
            for res in stage["res"]:
                h = res(torch.cat([h, hs.pop()], dim=1), temb, film(res))
            if "attn" in stage:
                h = stage["attn"](h)
            if "xattn" in stage:
                h = xattn(stage["xattn"], h)
            if self.output_heads is not None:
                head = self.output_heads[k](h)
                out = head if out is None else self.output_pyramid(out) + head
            if "upsample" in stage:
                h = stage["upsample"](h, temb, film(stage["upsample"]))
        return self._output(out if self.output_head is None else self.output_head(h), t)

    def _output(self, out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """SGMSE+'s division by ``t`` (``scale_by_sigma``) and 1x1 output layer, in the configured order."""
        def divide(v: torch.Tensor) -> torch.Tensor:
            return v / t.to(v.dtype).reshape(-1, 1, 1, 1) if self.scale_by_time else v

        def project(v: torch.Tensor) -> torch.Tensor:
            return v if self.output_layer is None else self.output_layer(v)
        return divide(project(out)) if self.cfg.divide_after_output_layer else project(divide(out))

    def _embed(self, t: torch.Tensor, cond: Condition | None) -> torch.Tensor:
        temb = self.time_embed(torch.log(t) if self.cfg.embedding == "log" else t)
        if self.injection == "add":
            temb = temb + cond.cached((id(self), "add"), lambda: self.cond_embed(cond.vector))
        return temb

    def _profile(self, cond: Condition, x: torch.Tensor) -> torch.Tensor | float:
        """The ``profile`` injection: the condition's value per frequency bin as a map over all frames, through a
        zero-initialised convolution into the first features (0 for the other injections). The map depends on the
        condition and the frame count only, so a sampler computes it once per utterance, not once per step."""
        if self.profile_in is None:
            return 0.0
        frames = x.shape[-1]

        def compute() -> torch.Tensor:
            profile = cond.vector.to(x.dtype)[:, None, :, None].expand(-1, 1, -1, frames)
            return self.profile_in(profile)
        return cond.cached((id(self), "profile", frames, x.dtype, torch.is_autocast_enabled()), compute)

    def _film(self, cond: Condition | None):
        """A lookup ``block -> FiLM parameters`` (``None`` without FiLM); each block projects once per condition."""
        if self.injection != "film":
            return lambda block: None
        return lambda block: cond.cached((id(block), "film"), lambda: block.film_params(cond.vector))

    def _xattn(self, cond: Condition):
        """``(block, h) -> h`` through a cross-attention block; each block projects the tokens to keys and
        values once per condition, so a sampler reuses them at every step."""
        if self.xattn_levels and cond.tokens is None:
            raise ValueError("this backbone cross-attends to condition tokens, but the condition has none")

        def apply(block: CrossAttnBlock, h: torch.Tensor) -> torch.Tensor:
            return block(h, cond.cached((id(block), "kv"), lambda: block.context(cond.tokens, cond.mask)))
        return apply


@BACKBONES.register("small")
class NCSNppSmall(NCSNpp):
    """A mid-size NCSN++ in the spirit of NCSN++M (Lemercier et al., TASLP 2023): four levels."""

    @dataclass(frozen=True)
    class Config(NCSNpp.Config):
        nf: int = 128
        ch_mult: tuple[int, ...] = (1, 2, 2, 2)
        num_res_blocks: int = 1
        attn_resolutions: tuple[int, ...] = (32,)


@BACKBONES.register("tiny")
class NCSNppTiny(NCSNpp):
    """A small NCSN++ (under 2 M parameters) for tests and the CPU demo."""

    @dataclass(frozen=True)
    class Config(NCSNpp.Config):
        nf: int = 16
        ch_mult: tuple[int, ...] = (1, 2, 2, 4, 4)
        num_res_blocks: int = 1
        attn_resolutions: tuple[int, ...] = (16,)
