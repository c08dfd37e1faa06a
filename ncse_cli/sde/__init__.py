"""Forward diffusion processes, looked up by name in :data:`SDES`."""

from ncse_cli.sde.base import SDES, SDE
from ncse_cli.sde import ouve  # noqa: F401  (registers "ouve")

__all__ = ["SDES", "SDE", "ouve"]
