"""DNSMOS P.835: speech quality (SIG), background-noise quality (BAK) and overall quality (OVRL) without a clean
reference.

Reddy, Gopal, Cutler, "DNSMOS P.835: A Non-Intrusive Perceptual Objective Speech Quality Metric to Evaluate Noise
Suppressors", ICASSP 2022. A network trained on ITU-T P.835 listening tests predicts the three mean opinion
scores (about 1 to 5) from the waveform at 16 kHz; signals at another rate are converted with the toolkit's
resampler. The ONNX model is the official one as shipped inside the ``speechmos`` package (nothing is
downloaded) and runs with onnxruntime on one CPU thread per process, like the other metrics' workers.

The procedure is that of the official ``dnsmos_local.py`` of the DNS Challenge, which ``speechmos`` follows too:
a clip shorter than 9.01 s is repeated until it is that long, the model rates 9.01 s segments every second, the
raw outputs are mapped through the official quadratic polynomials, and the segment scores are averaged. It is
rewritten here rather than called through ``speechmos.dnsmos`` because that module refuses samples beyond
[-1, 1] (which the official script scores, and enhanced float WAVs can hold), runs the P.808 model besides,
and gives no control over onnxruntime's threads. The three metrics share one model run per signal.
"""

from __future__ import annotations

import functools
import hashlib
from importlib.resources import files
from typing import Any, Iterator

import numpy as np

from ncse_cli.audio import resample_audio
from ncse_cli.metrics.base import METRICS, Metric, MetricFailure

DNSMOS_RATE = 16000
SEGMENT_SECONDS = 9.01
HOP_SECONDS = 1.0
#: Official polynomials (non-personalised model) from raw network outputs to MOS, highest power first.
POLYFIT = {"sig": (-0.08397278, 1.22083953, 0.0052439), "bak": (-0.13166888, 1.60915514, -0.39604546),
           "ovrl": (-0.06766283, 1.11546468, 0.04602535)}


@functools.lru_cache(maxsize=1)
def _session() -> Any:
    """The P.835 model on onnxruntime (CPU, one thread), loaded once per process from the speechmos package."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    model = files("speechmos") / "dnsmos_models" / "sig_bak_ovr.onnx"
    return ort.InferenceSession(model.read_bytes(), options, providers=["CPUExecutionProvider"])


def segments(audio: np.ndarray, rate: int = DNSMOS_RATE) -> Iterator[np.ndarray]:
    """The official segmentation into 9.01 s segments (one at a time: a long file has one per second), the clip
    repeated until it is 9.01 s long.

    Segment bounds are computed as the official script does, ``int((i + 9.01) * rate)``; floating-point
    rounding makes some of them one sample short (i = 7..23, 119.. at 16 kHz), and those the official script
    skips, so they are skipped here too: scores stay comparable with published ones.
    """
    length = int(SEGMENT_SECONDS * rate)
    while len(audio) < length:
        audio = np.append(audio, audio)
    count = int(np.floor(len(audio) / rate) - SEGMENT_SECONDS) + 1
    hop = HOP_SECONDS * rate
    for i in range(count):
        cut = audio[int(i * hop):int((i + SEGMENT_SECONDS) * hop)]
        if len(cut) >= length:
            yield cut.astype(np.float32)


#: The last signal scored and its scores: the three metrics ask for the same signal in turn.
_LAST: dict[tuple[str, int, int], dict[str, float]] = {}


def dnsmos(estimate: np.ndarray, sample_rate: int) -> dict[str, float]:
    """``{"sig", "bak", "ovrl"}`` DNSMOS P.835 scores of a 1-D signal at any rate."""
    estimate = np.ascontiguousarray(estimate, dtype=np.float32)
    if len(estimate) == 0:
        raise MetricFailure("empty signal, nothing for DNSMOS to rate")
    if not np.all(np.isfinite(estimate)):
        raise MetricFailure("NaN or infinite samples, DNSMOS is undefined")
    key = (hashlib.blake2b(estimate.tobytes(), digest_size=16).hexdigest(), len(estimate), sample_rate)
    if key not in _LAST:
        _LAST.clear()
        _LAST[key] = _predict(resample_audio(estimate, sample_rate, DNSMOS_RATE))
    return dict(_LAST[key])


def _predict(audio: np.ndarray) -> dict[str, float]:
    """Mean polynomial-mapped network outputs over the segments of a 16 kHz signal."""
    try:
        session = _session()
    except Exception as err:  # noqa: BLE001 - a missing package or model file: the values are missing, with why
        raise MetricFailure(f"DNSMOS cannot run here ({type(err).__name__}: {err})") from None
    rated: dict[bytes, np.ndarray] = {}  # a clip whose length divides 1 s repeats into identical segments
    raw = []
    for segment in segments(audio):
        key = hashlib.blake2b(segment.tobytes(), digest_size=16).digest()
        if key not in rated:
            rated[key] = session.run(None, {"input_1": segment[None]})[0]
        raw.append(rated[key])
    raw = np.concatenate(raw)
    return {name: float(np.mean(np.poly1d(POLYFIT[name])(raw[:, column])))
            for column, name in enumerate(("sig", "bak", "ovrl"))}


def _metric(part: str) -> Metric:
    def fn(estimate: np.ndarray, reference: np.ndarray | None, sample_rate: int) -> float:
        return dnsmos(estimate, sample_rate)[part]

    fn.__doc__ = f"DNSMOS P.835 {part.upper()} of ``estimate`` (non-intrusive: ``reference`` is not used)."
    note = f"DNSMOS P.835 {part.upper()} (Reddy et al. 2022, official ONNX model via speechmos) at 16 kHz"
    return Metric(f"dnsmos_{part}", f"DNSMOS {part.upper()}", fn, digits=2, note=note, rate=DNSMOS_RATE,
                  intrusive=False)


for _part in ("sig", "bak", "ovrl"):
    METRICS.register(f"dnsmos_{_part}")(_metric(_part))
