"""ncse: noise-conditioned score-based speech enhancement (SGMSE+ family) with classifier-free guidance."""

__version__ = "0.1.0"
