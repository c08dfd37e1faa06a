"""Speech-quality metrics: SI-SDR here; PESQ and ESTOI join it."""

from ncse_cli.metrics.sisdr import si_sdr

__all__ = ["si_sdr"]
