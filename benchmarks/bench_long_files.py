"""Memory and time of enhancing long files window by window (:mod:`ncse_cli.chunking`) against whole-file enhancement.

Each measurement runs in a fresh Python process, so its peak resident set size is its own; on Linux the peak is
restarted after the model and inputs are built (``/proc/self/clear_refs``), so "peak - before" is what enhancing
added. The model
is the tiny NCSN++ preset with the CNN encoder, randomly initialised (cost does not depend on the weights), with one
predictor step and no corrector (one network evaluation per window). Inputs are a 10 s noisy utterance repeated
to length, produced slice by slice as the chunker asks for windows, and the output is appended to a WAV file as it
is finished, so neither the input nor the output of a long file is ever held whole: what remains is the model and
one window. Whole-file enhancement of the same input is measured for the shorter lengths, to show what grows.

Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_long_files.py                       # 10 s, 60 s, 10 min
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_long_files.py --seconds 10,60 --whole 10,60
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer
from rich.console import Console
from rich.table import Table

from ncse_cli.audio import save_audio_blocks
from ncse_cli.chunking import ChunkingConfig, enhance_chunked, plan_windows
from ncse_cli.config import from_dict
from ncse_cli.enhancement import enhance_waveforms
from ncse_cli.model import ModelConfig, build_model
from ncse_cli.sampling.pc import PCConfig
from tests.dummies import TINY_MODEL, noise, speech

RATE = 16000
SAMPLER = PCConfig(steps=1, corrector_steps=0)


class RepeatedClip:
    """A long input made on demand: a clip repeated to ``length`` samples, sliced without building the whole."""

    def __init__(self, clip: np.ndarray, length: int) -> None:
        self.clip, self.length = clip, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: slice) -> np.ndarray:
        start, stop, _ = index.indices(self.length)
        return self.clip[np.arange(start, stop) % len(self.clip)]


def peak_rss_mb(reset: bool = False) -> float:
    """This process's peak resident set size so far, in MB; ``reset`` starts a new peak from the current size
    (Linux ``/proc/self/clear_refs``), so that building the inputs does not count."""
    status = Path("/proc/self/status")
    if not status.is_file():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2 ** 20 if sys.platform == "darwin" else 1024)
    if reset:
        Path("/proc/self/clear_refs").write_text("5")
    line = next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def measure(seconds: float, mode: str, window: float, threads: int) -> dict:
    """Enhance ``seconds`` of audio in this process; returns wall time and peak RSS."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(from_dict(ModelConfig, TINY_MODEL)).eval()
    clip = (speech(10.0, seed=1) + noise(10.0, seed=2, level=0.05)).astype(np.float32)
    ref = torch.from_numpy(noise(0.25, seed=3, level=0.05))
    source = RepeatedClip(clip, int(seconds * RATE))
    baseline = peak_rss_mb(reset=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if mode == "chunked":
            blocks = enhance_chunked(model, source, ref, chunking=ChunkingConfig(window),
                                     peak=float(np.abs(clip).max()), sampler=SAMPLER,
                                     generator=torch.Generator().manual_seed(0))
            written = save_audio_blocks(Path(tmp) / "out.wav", blocks, RATE)
        else:
            noisy = torch.from_numpy(source[0:len(source)])
            out = enhance_waveforms(model, noisy, ref, sampler=SAMPLER, generator=torch.Generator().manual_seed(0))
            written = save_audio_blocks(Path(tmp) / "out.wav", [out.waveform.numpy()], RATE)
    wall = time.perf_counter() - start
    assert written == len(source)
    windows = len(plan_windows(len(source), *ChunkingConfig(window).samples(RATE))) if mode == "chunked" else 1
    return {"seconds": seconds, "mode": mode, "wall": wall, "baseline_mb": baseline, "peak_mb": peak_rss_mb(),
            "windows": windows}


def in_fresh_process(seconds: float, mode: str, window: float, threads: int) -> dict:
    """:func:`measure` in a new interpreter (its peak RSS is its own)."""
    args = [sys.executable, __file__, "--one", f"{mode}:{seconds}", "--window", str(window), "--threads", str(threads)]
    out = subprocess.run(args, capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(seconds: Annotated[str, typer.Option(help="Input lengths in seconds, comma-separated.")] = "10,60,600",
         whole: Annotated[str, typer.Option(help="Lengths also enhanced whole, for comparison ('' for none).")
                          ] = "10,60",
         window: Annotated[float, typer.Option(help="Window length in seconds (overlap: the default 0.5 s).")] = 4.0,
         threads: Annotated[int, typer.Option(help="torch threads.")] = 1,
         one: Annotated[str, typer.Option(hidden=True, help="Internal: run one 'mode:seconds' measurement.")] = ""
         ) -> None:
    """Measure peak memory and wall time of chunked (and whole-file) enhancement; print one table."""
    if one:
        mode, length = one.split(":")
        print(json.dumps(measure(float(length), mode, window, threads)))
        return
    runs = [("chunked", float(s)) for s in seconds.split(",")] + [("whole", float(s)) for s in whole.split(",") if s]
    table = Table(title=f"tiny model, 1 step, {threads} thread(s), {window:g} s windows, fresh process per row")
    for column in ("input", "mode", "windows", "wall (s)", "real-time factor", "RSS before (MB)", "peak RSS (MB)",
                   "peak - before (MB)"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for mode, length in runs:
        r = in_fresh_process(length, mode, window, threads)
        table.add_row(f"{length:g} s", mode, str(r["windows"]), f"{r['wall']:.1f}", f"{r['wall'] / length:.3f}",
                      f"{r['baseline_mb']:.0f}", f"{r['peak_mb']:.0f}", f"{r['peak_mb'] - r['baseline_mb']:.0f}")
    Console().print(table)


if __name__ == "__main__":
    typer.run(main)
