"""Automatic noise references against true ones, on recordings with pauses: does ``--reference auto`` serve a model
as well as a separate noise recording?

The demo corpus's utterances are 2 s of nearly continuous synthetic speech, so a voice activity detector finds no
0.5 s of non-speech in them. This script builds a test set that looks like recordings from the field instead:
``--count`` recordings of ``--seconds`` s, each a few phrases of the demo's held-out test talkers separated by
pauses of 0.4-1.2 s and preceded by 0.3-1.0 s of noise alone, in one continuous noise of the demo's kinds at the
demo's test SNRs. Each row keeps a true reference: another stretch of the same noise (as in the demo corpus).
A trained model is then evaluated with three reference conditions on the same utterances and sampler seed:

* ``matched``: the true reference;
* ``auto``: a reference cut from the recording's own pauses (silero-vad; what ``ncse enhance`` does by default);
* ``null``: no reference (the unconditional branch).

Printed: means per condition, how many rows found an automatic reference, and the paired differences (95%
bootstrap intervals) of auto against matched and against null::

    .venv/bin/python benchmarks/bench_auto_reference.py --model demo-profile-cfg-s0 --workdir ncse-demo/runs

Everything lives under ``--out`` (default ``bench-auto-reference``); a re-run reuses the test set and results.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ncse_cli import api  # noqa: E402
from ncse_cli.data.manifest import write_manifest  # noqa: E402
from ncse_cli.data.noise import noise_pair, synthetic_clip  # noqa: E402
from ncse_cli.data.prepare.demo import DemoConfig, talkers_by_split, test_condition  # noqa: E402
from ncse_cli.data.prepare.examples import mixed_row  # noqa: E402
from ncse_cli.data.seeding import item_rng  # noqa: E402
from ncse_cli.data.synth import synth_speech  # noqa: E402
from ncse_cli.evaluation.scoring import read_scores  # noqa: E402
from ncse_cli.inference.settings import EnhanceSettings  # noqa: E402
from ncse_cli.report.stats import compare_paired  # noqa: E402

console = Console()
METRICS = ("pesq", "estoi", "si_sdr")
CONDITIONS = ("matched", "auto", "null")


def speech_with_pauses(talker, seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Phrases of 1.2-2.5 s of ``talker``, after 0.3-1.0 s of silence and separated by pauses of 0.4-1.2 s."""
    out = np.zeros(int(seconds * sr), np.float32)
    pos = int(rng.uniform(0.3, 1.0) * sr)
    while pos < len(out) - int(0.8 * sr):
        length = min(int(rng.uniform(1.2, 2.5) * sr), len(out) - pos)
        out[pos:pos + length] = synth_speech(talker, length, sr, rng)
        pos += length + int(rng.uniform(0.4, 1.2) * sr)
    return out


def build_testset(out: Path, count: int, seconds: float, seed: int) -> Path:
    """The recordings with pauses (see the module docstring) and their manifest ``out/paused.jsonl``."""
    manifest = out / "paused.jsonl"
    if manifest.exists():
        return manifest
    cfg = DemoConfig(seed=seed)
    sr, ref = cfg.sample_rate, int(cfg.ref_seconds * cfg.sample_rate)
    talkers = talkers_by_split(cfg)["test"]
    rows = []
    for i in range(count):
        rng = item_rng(seed, "paused", i)
        kind, snr = test_condition(cfg, i)
        clean = speech_with_pauses(talkers[i % 2], seconds, sr, rng)
        pair = noise_pair(synthetic_clip(kind), None, len(clean), ref, sr, rng)
        rows.append(mixed_row(out, "paused", f"paused_{i:04d}", clean=clean, noise=pair.mix, ref=pair.ref,
                              snr_db=float(snr), sample_rate=sr, method=cfg.snr_method, noise_type=kind,
                              noise_source="synthetic", split="test", extra={"speaker": talkers[i % 2].name}))
    write_manifest(manifest, rows)
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a conditioned model's name in --workdir, or its folder")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("bench-auto-reference"))
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--steps", type=int, default=5, help="sampler steps (the model's own sampler)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    manifest = build_testset(args.out, args.count, args.seconds, args.seed)
    settings = EnhanceSettings(steps=args.steps, precision="fp32", seed=args.seed)
    summaries = api.evaluate(args.model, [manifest], references=CONDITIONS, settings=settings, dnsmos=False,
                             workdir=args.workdir)
    noisy, points = summaries[0], {p.condition: p for p in summaries[1:]}
    scores = {condition: read_scores(p.path.parent / "scores.csv") for condition, p in points.items()}
    found = json.loads((points["auto"].path.parent / "references.json").read_text())["rows"]
    with_ref = sum(bool(r.get("stretches")) for r in found.values())

    table = Table(title=f"{args.count} recordings of {args.seconds:g} s with pauses, model {args.model}, "
                        f"{args.steps} sampler steps; auto found a reference in {with_ref} of {len(found)}",
                  title_justify="left")
    for column in ("reference", "PESQ", "ESTOI", "SI-SDR (dB)"):
        table.add_column(column, justify="left" if column == "reference" else "right")
    table.add_row("noisy input", *(f"{noisy.metrics[m].mean:.2f}" for m in METRICS))
    for condition, point in points.items():
        table.add_row(condition, *(f"{point.metrics[m].mean:.2f}" for m in METRICS))
    for a, b in (("auto", "matched"), ("auto", "null"), ("matched", "null")):
        diffs = (compare_paired(scores[a], scores[b], m) for m in METRICS)
        table.add_row(f"{a} - {b} (paired)", *(f"{d.difference:+.2f} [{d.ci_low:+.2f}, {d.ci_high:+.2f}]"
                                               for d in diffs))
    console.print(table)


if __name__ == "__main__":
    main()
