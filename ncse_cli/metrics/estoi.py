"""Extended short-time objective intelligibility through ``pystoi``.

Jensen & Taal, "An Algorithm for Predicting the Intelligibility of Speech Masked by Modulated Noise Maskers",
IEEE/ACM TASLP 24(11), 2016. ``pystoi`` resamples to 10 kHz and drops silent frames itself, as the reference
implementation does.
"""

from __future__ import annotations

import warnings

import numpy as np

from ncse_cli.metrics.base import METRICS, Metric, MetricFailure


def estoi(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    """ESTOI (about 0 to 1) of ``estimate`` against the clean ``reference``.

    pystoi returns a placeholder 1e-5 with a warning when fewer than 30 non-silent frames remain; that is
    reported as a :class:`MetricFailure`, not as a score. A silent reference is one too: pystoi's silence
    removal is relative to the loudest frame, so it keeps every frame of all-zero audio and returns noise.
    """
    from pystoi import stoi  # imports SciPy's signal package (1 s): not for processes that never score ESTOI

    if not np.any(reference):
        raise MetricFailure("silent reference, no speech for ESTOI")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(stoi(np.asarray(reference, np.float64), np.asarray(estimate, np.float64), sample_rate,
                           extended=True))
    short = [w for w in caught if "Not enough STFT frames" in str(w.message)]
    if short or not np.isfinite(value):
        raise MetricFailure("too little non-silent speech for ESTOI (needs 30 frames of 25.6 ms)")
    return value


METRICS.register("estoi")(Metric("estoi", "ESTOI", estoi, digits=2, note="extended STOI (Jensen & Taal 2016, pystoi)"))
