"""Wide-band PESQ (ITU-T P.862.2) through the ``pesq`` package.

ITU-T Recommendation P.862.2, "Wideband extension to Recommendation P.862 for the assessment of wideband
telephone networks and speech codecs" (2007). Wide-band PESQ is defined at 16 kHz only: signals at another rate
are converted with the toolkit's one resampler (:data:`ncse_cli.audio.RESAMPLER`), and the evaluation records it.
"""

from __future__ import annotations

import warnings

import numpy as np
from pesq import PesqError, pesq

from ncse_cli.audio import resample_audio
from ncse_cli.metrics.base import METRICS, Metric, MetricFailure

PESQ_RATE = 16000


def pesq_wb(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    """Wide-band PESQ (MOS-LQO, about 1.04 to 4.64) of ``estimate`` against the clean ``reference``.

    Raises :class:`MetricFailure` where PESQ is undefined (no speech detected, shorter than 0.25 s).
    """
    ref = resample_audio(reference, sample_rate, PESQ_RATE)
    est = resample_audio(estimate, sample_rate, PESQ_RATE)
    if not np.any(ref):
        raise MetricFailure("silent reference, no utterances detected")
    if not np.any(est):  # the pesq package crashes on an all-zero degraded signal
        raise MetricFailure("silent estimate")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(pesq(PESQ_RATE, ref, est, "wb"))
    except (PesqError, ValueError) as err:
        message = err.args[0] if err.args else type(err).__name__
        message = message.decode() if isinstance(message, bytes) else str(message)
        raise MetricFailure(f"{type(err).__name__}: {message}") from None


METRICS.register("pesq")(Metric("pesq", "PESQ", pesq_wb, digits=2,
                                 note="wide-band PESQ (ITU-T P.862.2, pesq package) at 16 kHz", rate=PESQ_RATE))
