"""The run's metrics: ``train_log.csv`` (always), plus Accelerate trackers (TensorBoard, W&B) when asked.

One row per step that logged anything; columns that a step did not compute are empty. On resume the rows after
the resumed checkpoint are dropped, so the log never holds two histories of the same steps.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ncse_cli.files import append_text, atomic_write_text

LOG_FILE = "train_log.csv"
COLUMNS = ("step", "loss", "lr", "grad_norm", "val_loss", "val_si_sdr", "seconds")


class MetricsLog:
    """Appends rows to ``train_log.csv``; only the main process should hold one."""

    def __init__(self, run_dir: Path, resume_step: int | None = None) -> None:
        self.path = run_dir / LOG_FILE
        rows = [r for r in read_train_log(self.path) if r["step"] <= resume_step] if resume_step is not None else []
        atomic_write_text(self.path, _csv_text(rows, header=True))

    def write(self, step: int, values: Mapping[str, float]) -> None:
        """Append one row (flushed at once, so a crash loses at most the row being written)."""
        append_text(self.path, _csv_text([{"step": step, **values}], header=False))


def _csv_text(rows: list[Mapping[str, float]], header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    if header:
        writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(v) for k, v in row.items()})
    return buffer.getvalue()


def _fmt(value: float | int | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value) if isinstance(value, int) else repr(float(value))


def read_train_log(path: Path) -> list[dict[str, float]]:
    """Rows of a ``train_log.csv`` as dicts (``step`` an int, missing values NaN); a torn last line is skipped."""
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="") as handle:
        for raw in csv.DictReader(handle):
            try:
                row = {k: (float(v) if v not in ("", None) else math.nan) for k, v in raw.items() if k in COLUMNS}
                row["step"] = int(row["step"])
            except (TypeError, ValueError):
                continue
            if len(row) == len(COLUMNS):
                rows.append(row)
    return rows


@dataclass(frozen=True)
class RunSummary:
    """What a run reached, read back from its ``train_log.csv``."""

    run_dir: Path
    steps: int
    loss: float  #: the last logged training loss
    val_loss: float  #: the last validation loss
    best_val_loss: float
    val_si_sdr: float  #: the last validation SI-SDR (dB)
    seconds: float


def summarize_run(run_dir: Path) -> RunSummary:
    """Summarise a run directory's training log (NaN for what was never logged)."""
    rows = read_train_log(Path(run_dir) / LOG_FILE)

    def last(key: str) -> float:
        values = [r[key] for r in rows if not math.isnan(r[key])]
        return values[-1] if values else math.nan

    val_losses = [r["val_loss"] for r in rows if not math.isnan(r["val_loss"])]
    return RunSummary(Path(run_dir), rows[-1]["step"] if rows else 0, last("loss"), last("val_loss"),
                      min(val_losses) if val_losses else math.nan, last("val_si_sdr"), last("seconds"))
