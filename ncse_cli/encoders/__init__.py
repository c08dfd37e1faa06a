"""Noise-reference encoders, looked up by name in :data:`ENCODERS`."""

from ncse_cli.encoders.base import ENCODERS, EncoderContext, NoiseEncoder
from ncse_cli.encoders import cnn, none, sequence  # noqa: F401  (registers cnn, none, sequence, clap-sequence)
from ncse_cli.encoders import clap, panns  # noqa: F401  (registers clap, panns; their towers import lazily)

__all__ = ["ENCODERS", "EncoderContext", "NoiseEncoder"]
