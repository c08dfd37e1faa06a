"""The sampler contract, the registry, and :func:`run_sampler`, which connects a sampler to a model.

A sampler is a function ``sample(fn, y, sde, ts, cfg, generator=None, callback=None) -> SampleResult`` in the
style of k-diffusion: ``fn(x, t, y)`` is the model with its condition already bound (see
:mod:`ncse_cli.sampling.guidance`), returning either the score or the clean estimate, as the sampler declares
when it is registered (``uses``); ``ts`` is the time schedule, built by the sampler config's ``timesteps`` from
:mod:`ncse_cli.sampling.schedules`, so a new schedule never touches a sampler. Randomness comes only from
``generator``, so a fixed generator gives a fixed result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Protocol

import torch

from ncse_cli.config import ConfigError, component_name
from ncse_cli.registry import Registry

ModelFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
StepCallback = Callable[[int, torch.Tensor], None]
Uses = Literal["score", "clean"]

SAMPLERS: Registry = Registry("sampler")


@dataclass
class SampleResult:
    """The final sample and the number of model evaluations it took."""

    x: torch.Tensor
    nfe: int


class Sampler(Protocol):
    Config: type
    uses: Uses  #: what ``fn`` returns: the score or the clean estimate
    sdes: tuple[str, ...]  #: the forward processes whose reverse it integrates

    def __call__(self, fn: ModelFn, y: torch.Tensor, sde, ts: torch.Tensor, cfg,
                 generator: torch.Generator | None = None, callback: StepCallback | None = None) -> SampleResult: ...


def register_sampler(name: str, config: type, uses: Uses, sdes: tuple[str, ...]) -> Callable:
    """Register a sampler function with its config dataclass, what it asks the model for and the SDEs it fits."""

    def decorator(func):
        func.Config, func.uses, func.sdes = config, uses, sdes
        return SAMPLERS.register(name)(func)

    return decorator


def check_sampler(sampler_cfg, sde_cfg, where: str = "sampler") -> None:
    """Refuse a sampler that does not integrate the model's SDE, naming both and the samplers that fit."""
    sampler, sde = component_name(sampler_cfg), component_name(sde_cfg)
    if sde not in SAMPLERS.get(sampler).sdes:
        fits = [name for name in SAMPLERS.names() if sde in SAMPLERS.get(name).sdes]
        raise ConfigError(f"{where}: sampler {sampler!r} does not fit the model's SDE {sde!r} "
                          f"(samplers for {sde}: {', '.join(fits)})")


def run_sampler(cfg, model, y: torch.Tensor, sde, generator: torch.Generator | None = None,
                callback: StepCallback | None = None) -> SampleResult:
    """Sample with the registered sampler of config ``cfg``; ``model`` offers ``score(x, t, y)`` and
    ``clean(x, t, y)`` (a :class:`~ncse_cli.sampling.guidance.Guidance`)."""
    sample: Sampler = SAMPLERS.get(component_name(cfg))
    ts = cfg.timesteps(sde, y.device)
    fn = model.score if sample.uses == "score" else model.clean
    return sample(fn, y, sde, ts, cfg, generator=generator, callback=callback)
