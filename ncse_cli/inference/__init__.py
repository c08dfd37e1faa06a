"""Enhancing audio files with a trained model: the use case behind ``ncse enhance`` and ``ncse evaluate``."""
