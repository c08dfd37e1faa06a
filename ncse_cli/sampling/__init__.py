"""Reverse-process samplers, looked up by name in :data:`SAMPLERS`, and classifier-free guidance."""

from ncse_cli.sampling.base import SAMPLERS, SampleResult, timesteps
from ncse_cli.sampling import pc  # noqa: F401  (registers pc, ode)
from ncse_cli.sampling.guidance import GuidedScore

__all__ = ["SAMPLERS", "SampleResult", "GuidedScore", "timesteps"]
