"""Reverse-process samplers, looked up by name in :data:`SAMPLERS`, their time schedules, and classifier-free
guidance."""

from ncse_cli.sampling.base import SAMPLERS, SampleResult, check_sampler, run_sampler
from ncse_cli.sampling import pc, bridge  # noqa: F401  (register pc, ode, sb-ode, sb-sde)
from ncse_cli.sampling.guidance import Guidance
from ncse_cli.sampling.schedules import bridge_timesteps, sgmse_timesteps

__all__ = ["SAMPLERS", "SampleResult", "Guidance", "check_sampler", "run_sampler", "sgmse_timesteps",
           "bridge_timesteps"]
