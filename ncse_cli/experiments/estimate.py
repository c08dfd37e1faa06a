"""Time estimates of an experiment's units, from what this workspace measured where it can, else from rates.

Rates come first from the workspace itself: a model's ``train_log.csv`` records the seconds its steps took, and
every stored evaluation its enhancement time (``timing.enhance_seconds``), so estimates sharpen as the plan
runs. Without a measurement, the rates below apply: the tiny backbone's were measured for the CPU demo on the
2-core machine ncse is developed on (one torch thread per process); those of the larger backbones are
assumptions for one modern GPU, marked as such in the plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ncse_cli.evaluation.results import model_summaries
from ncse_cli.training.metrics_log import LOG_FILE, read_train_log

#: Seconds per training step (batch 4; tiny at 64-frame crops on one CPU thread, the others at 256 frames on a GPU).
TRAIN_SECONDS_PER_STEP = {"tiny": 0.55, "small": 0.15, "base": 0.25}
#: Seconds per network evaluation per second of audio when enhancing.
ENHANCE_SECONDS = {"tiny": 0.045, "small": 0.004, "base": 0.006}
#: Seconds to score one second of audio (PESQ, ESTOI, SI-SDR on one CPU thread), and for each model a fixed cost.
SCORE_SECONDS_PER_AUDIO_SECOND = 0.05
EVAL_OVERHEAD_SECONDS = 2.0
#: Seconds per prepared row (mixing and writing three files).
PREPARE_SECONDS_PER_ROW = {"demo": 0.03, "vbdemand": 0.05, "ood": 0.05, "nonstationary": 0.06}
REPORT_SECONDS = {"tiny": 20.0}
DEFAULT_REPORT_SECONDS = 120.0
MEASURED, CALIBRATED, ASSUMED = "measured", "calibrated", "assumed"


@dataclass(frozen=True)
class Estimate:
    """Seconds and where the rate came from (measured here, calibrated on the development CPU, or assumed)."""

    seconds: float
    source: str


def _rated(table: dict[str, float], backbone: str) -> tuple[float, str]:
    rate = table.get(backbone, table["base"] if "base" in table else max(table.values()))
    return rate, CALIBRATED if backbone == "tiny" else ASSUMED


def training(model_dir: Path, backbone: str, steps: int, done_steps: int) -> Estimate:
    """Time for the steps still to run: at the model's own pace once it logged some, else at the rate table's."""
    rows = [r for r in read_train_log(Path(model_dir) / LOG_FILE) if math.isfinite(r["seconds"])]
    remaining = max(steps - done_steps, 0)
    if rows and rows[-1]["step"] > 0 and rows[-1]["seconds"] > 0:
        return Estimate(remaining * rows[-1]["seconds"] / rows[-1]["step"], MEASURED)
    rate, source = _rated(TRAIN_SECONDS_PER_STEP, backbone)
    return Estimate(remaining * rate, source)


def network_evaluations(sampler: dict, guided: bool) -> int:
    """Network evaluations per utterance of a sampler (its config as a dict): each step, each corrector step, twice
    when guiding (conditional and unconditional branches)."""
    return int(sampler.get("steps", 30)) * (1 + int(sampler.get("corrector_steps", 0))) * (2 if guided else 1)


def is_guided(w: float | None, conditional: bool, condition: str = "matched") -> bool:
    """Whether enhancing runs both branches: a conditioned model at a scale other than 0 and 1, with a reference."""
    return conditional and w is not None and w not in (0.0, 1.0) and condition != "null"


def measured_enhance_rate(model_dir: Path) -> float | None:
    """Seconds per network evaluation per audio second of a model's stored evaluations (``None``: none yet)."""
    rates = []
    for summary in model_summaries(Path(model_dir)):
        rtf, sampler = summary.timing.get("real_time_factor", math.nan), summary.settings.get("sampler")
        if math.isfinite(rtf) and rtf > 0 and isinstance(sampler, dict):
            guided = is_guided(summary.w, True, summary.condition)  # w is None for an unconditioned model
            rates.append(rtf / network_evaluations(sampler, guided))
    return sum(rates) / len(rates) if rates else None


def evaluation(backbone: str, audio_seconds: float, network_evaluations: int,
               measured: float | None = None) -> Estimate:
    """Enhancing ``audio_seconds`` of audio with ``network_evaluations`` per utterance, then scoring it."""
    rate, source = (measured, MEASURED) if measured else _rated(ENHANCE_SECONDS, backbone)
    seconds = audio_seconds * (network_evaluations * rate + SCORE_SECONDS_PER_AUDIO_SECOND) + EVAL_OVERHEAD_SECONDS
    return Estimate(seconds, source)


def preparation(recipe: str, rows: int) -> Estimate:
    """Making ``rows`` manifest rows."""
    return Estimate(rows * PREPARE_SECONDS_PER_ROW.get(recipe, 0.05), CALIBRATED)


def report(backbones: set[str]) -> Estimate:
    """Building a group's report (statistics, figures, embeddings of the test references)."""
    if backbones <= {"tiny"}:
        return Estimate(REPORT_SECONDS["tiny"], CALIBRATED)
    return Estimate(DEFAULT_REPORT_SECONDS, ASSUMED)


def format_seconds(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.4 h``, ``2.1 d``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
