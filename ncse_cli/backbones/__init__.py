"""Score networks, looked up by name in :data:`BACKBONES` (the NCSN++ presets ``tiny``, ``small``, ``base``)."""

from ncse_cli.backbones.base import BACKBONES
from ncse_cli.backbones import ncsnpp  # noqa: F401  (registers tiny, small, base)

__all__ = ["BACKBONES"]
