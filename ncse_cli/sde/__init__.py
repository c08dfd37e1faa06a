"""Forward diffusion processes, looked up by name in :data:`SDES`."""

from ncse_cli.sde.base import SDES, SDE, randn_like
from ncse_cli.sde import ouve  # noqa: F401  (registers "ouve")

__all__ = ["SDES", "SDE", "randn_like", "ouve"]
