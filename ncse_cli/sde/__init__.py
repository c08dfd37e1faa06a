"""Forward diffusion processes, looked up by name in :data:`SDES`."""

from ncse_cli.sde.base import SDES, SDE
from ncse_cli.sde import ouve, sbve  # noqa: F401  (register "ouve", "sbve")

__all__ = ["SDES", "SDE", "ouve", "sbve"]
