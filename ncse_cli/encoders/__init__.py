"""Noise-reference encoders, looked up by name in :data:`ENCODERS`."""

from ncse_cli.encoders.base import ENCODERS, EncoderContext, NoiseEncoder
# registers cnn, none, profile, sequence, clap-sequence; then clap and panns (their towers import lazily)
from ncse_cli.encoders import cnn, none, profile, sequence  # noqa: F401
from ncse_cli.encoders import clap, panns  # noqa: F401

__all__ = ["ENCODERS", "EncoderContext", "NoiseEncoder"]
