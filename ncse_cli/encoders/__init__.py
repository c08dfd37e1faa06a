"""Noise-reference encoders, looked up by name in :data:`ENCODERS`."""

from ncse_cli.encoders.base import ENCODERS, EncoderContext, NoiseEncoder
from ncse_cli.encoders import cnn, none  # noqa: F401  (registers cnn, none)

__all__ = ["ENCODERS", "EncoderContext", "NoiseEncoder"]
