"""Scale-invariant signal-to-distortion ratio.

Le Roux, Wisdom, Erdogan, Hershey, "SDR - half-baked or well done?", ICASSP 2019, Eq. (2)-(3): project the
estimate onto the reference, ``s_target = <s_hat, s> s / ||s||^2``, and return
``10 log10(||s_target||^2 / ||s_hat - s_target||^2)``. Both signals are made zero-mean first.
"""

from __future__ import annotations

import numpy as np
import torch

from ncse_cli.metrics.base import METRICS, Metric, MetricFailure


def si_sdr(estimate: np.ndarray | torch.Tensor, reference: np.ndarray | torch.Tensor, eps: float = 1e-12) -> float:
    """SI-SDR in dB of a 1-D ``estimate`` against a 1-D ``reference`` of the same length."""
    est = np.asarray(estimate.detach().cpu() if isinstance(estimate, torch.Tensor) else estimate, dtype=np.float64)
    ref = np.asarray(reference.detach().cpu() if isinstance(reference, torch.Tensor) else reference, dtype=np.float64)
    if est.shape != ref.shape or est.ndim != 1:
        raise ValueError(f"si_sdr needs two 1-D signals of equal length, got {est.shape} and {ref.shape}")
    est, ref = est - est.mean(), ref - ref.mean()
    target = (est @ ref) / (ref @ ref + eps) * ref
    distortion = est - target
    return float(10 * np.log10((target @ target + eps) / (distortion @ distortion + eps)))


def si_sdr_metric(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    """:func:`si_sdr` as a registered metric: undefined (a failure) when either signal is constant (0 / 0)."""
    for what, signal in (("reference", reference), ("estimate", estimate)):
        signal = np.asarray(signal, dtype=np.float64)
        if not np.any(signal - signal.mean()):
            raise MetricFailure(f"constant (silent) {what}")
    return si_sdr(estimate, reference)


METRICS.register("si_sdr")(Metric("si_sdr", "SI-SDR", si_sdr_metric, digits=1,
                                   note="scale-invariant SDR in dB (Le Roux et al. 2019)"))
