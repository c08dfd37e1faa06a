"""Memory and time of enhancing long files window by window (:mod:`ncse_cli.chunking`) against whole-file enhancement,
and of ``ncse enhance`` itself on long recordings.

Each measurement runs in a fresh Python process, so its peak resident set size is its own; on Linux the peak is
restarted after the model and inputs are built (``/proc/self/clear_refs``), so "peak - before" is what enhancing
added. The model
is the tiny NCSN++ preset with the CNN encoder, randomly initialised (cost does not depend on the weights), with one
predictor step and no corrector (one network evaluation per window). Inputs are a 10 s noisy utterance repeated
to length, produced slice by slice as the chunker asks for windows, and the output is appended to a WAV file as it
is finished, so neither the input nor the output of a long file is ever held whole: what remains is the model and
one window. Whole-file enhancement of the same input is measured for the shorter lengths, to show what grows.

``--cli`` measures the command a user runs instead: ``ncse enhance -m MODEL -i recording.wav -o out/ --steps 1`` in a
fresh process per recording (peak RSS of that process, from ``wait4``), on WAV files written block by block beforehand
(by default 48 kHz stereo 16-bit, as a field recorder writes them: speech with pauses in pink noise, so the automatic
reference finds a pause). Everything the command does counts: start-up, reading and checking the file, voice activity
detection and the automatic reference, resampling in and out, the windows, writing. The model is the tiny preset with
the CNN encoder, untrained, in a model directory that says it was trained as ``recipes/tiny.yaml`` trains (0.25 s
references, 64-frame crops: 4 s windows).

Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_long_files.py                       # 10 s, 60 s, 10 min
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_long_files.py --seconds 10,60 --whole 10,60
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_long_files.py --cli                 # ncse enhance itself
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import soundfile as sf
import torch
import typer
from rich.console import Console
from rich.table import Table

from ncse_cli.audio import save_audio_blocks
from ncse_cli.chunking import ChunkingConfig, enhance_chunked, plan_windows
from ncse_cli.config import from_dict
from ncse_cli.enhancement import enhance_waveforms
from ncse_cli.model import ModelConfig, build_model
from ncse_cli.model_dir import save_model
from ncse_cli.sampling.pc import PCConfig
from tests.dummies import TINY_MODEL, noise, speech, speech_with_pauses

ROOT = Path(__file__).resolve().parents[1]

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


def write_recording(path: Path, seconds: float, rate: int, channels: int) -> None:
    """A long recording written block by block: 10 s of speech bursts and pauses in pink noise, repeated."""
    layout = [("speech", 2.5), ("pause", 1.0), ("speech", 3.0), ("pause", 0.5), ("speech", 2.0), ("pause", 1.0)]
    clip, _ = speech_with_pauses(layout, rate, noise_level=0.03)
    total = int(seconds * rate)
    with sf.SoundFile(str(path), "w", rate, channels, "PCM_16") as out:
        for start in range(0, total, len(clip)):
            block = clip[:min(len(clip), total - start)]
            out.write(np.repeat(block[:, None], channels, axis=1) if channels > 1 else block)


def run_cli(model: Path, recording: Path, out: Path, threads: int) -> dict:
    """``ncse enhance`` on one recording in a fresh process: wall time and that process's peak RSS."""
    args = [sys.executable, "-m", "ncse_cli", "enhance", "-m", str(model), "-i", str(recording), "-o", str(out),
            "--steps", "1", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    with open(out.parent / f"{out.name}.log", "w") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"ncse enhance failed, see {out.parent / f'{out.name}.log'}")
    peak_mb = usage.ru_maxrss / (2 ** 20 if sys.platform == "darwin" else 1024)
    return {"wall": wall, "peak_mb": peak_mb, "log": (out.parent / f"{out.name}.log").read_text()}


def cli_table(lengths: list[float], rate: int, channels: int, threads: int) -> Table:
    """Measure ``ncse enhance`` on recordings of ``lengths`` seconds; one table row each."""
    table = Table(title=f"ncse enhance, tiny model (CNN encoder), --steps 1, {rate // 1000} kHz {channels}-channel "
                        f"16-bit WAV, {threads} thread(s), fresh process per row")
    for column in ("input", "file (MB)", "wall (s)", "real-time factor", "peak RSS (MB)", "reference"):
        table.add_column(column, justify="left" if column == "reference" else "right")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        torch.manual_seed(0)
        trained_as = {"data": {"train": "train.jsonl", "ref_seconds": 0.25}, "train": {"crop_frames": 64}}
        model = save_model(build_model(from_dict(ModelConfig, {**TINY_MODEL, "backbone": "tiny"})).eval(),
                           tmp / "tiny", trained_as)  # as recipes/tiny.yaml trains it
        for length in lengths:
            recording = tmp / f"rec{length:g}.wav"
            write_recording(recording, length, rate, channels)
            result = run_cli(model, recording, tmp / f"out{length:g}", threads)
            sidecar = json.loads((tmp / f"out{length:g}" / f"rec{length:g}.noise-ref.json").read_text())
            where = (f"auto {sidecar['stretches'][0][0]:.2f}-{sidecar['stretches'][0][1]:.2f} s"
                     if sidecar["stretches"] else "none found")
            table.add_row(f"{length:g} s", f"{recording.stat().st_size / 2 ** 20:.0f}", f"{result['wall']:.1f}",
                          f"{result['wall'] / length:.3f}", f"{result['peak_mb']:.0f}", where)
            recording.unlink()
    return table


def main(seconds: Annotated[str, typer.Option(help="Input lengths in seconds, comma-separated.")] = "10,60,600",
         whole: Annotated[str, typer.Option(help="Lengths also enhanced whole, for comparison ('' for none).")
                          ] = "10,60",
         window: Annotated[float, typer.Option(help="Window length in seconds (overlap: the default 0.5 s).")] = 4.0,
         threads: Annotated[int, typer.Option(help="torch threads.")] = 1,
         cli: Annotated[bool, typer.Option(help="Measure `ncse enhance` on WAV files instead of the library.")] = False,
         rate: Annotated[int, typer.Option(help="--cli: sample rate of the recordings.")] = 48000,
         channels: Annotated[int, typer.Option(help="--cli: channels of the recordings.")] = 2,
         one: Annotated[str, typer.Option(hidden=True, help="Internal: run one 'mode:seconds' measurement.")] = ""
         ) -> None:
    """Measure peak memory and wall time of chunked (and whole-file) enhancement; print one table."""
    if cli:
        Console().print(cli_table([float(s) for s in seconds.split(",")], rate, channels, threads))
        return
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
