"""Speed against the reference implementation, side by side in one process: sgmse 0.1.2 and ncse on the same input.

Both networks are the SGMSE+ ``base`` NCSN++ (65 M parameters, random weights: speed does not depend on them;
ncse's channels-last, as ``ncse enhance`` and ``evaluate`` load a model),
the input a 4 s mixture (16 kHz: 501 STFT frames, padded to 512), the same thread count. Runs are interleaved
(sgmse, ncse fp32, ncse bf16, sgmse, ...) so that a machine whose speed drifts treats every contender alike,
and the best of ``--repeats`` is kept. Printed:

* one network evaluation (forward pass) for sgmse fp32, ncse fp32, ncse bf16;
* one utterance at 60 network evaluations (SGMSE+'s predictor-corrector, 30 steps x 2) for each of them, and
  ncse's Schrodinger-bridge sampler at 5 and 10 evaluations (fp32 and bf16), measured (``--utterance``) or
  estimated as evaluations x forward time (the sampler's own arithmetic is negligible beside the network);
* every ratio against sgmse fp32.

    .venv/bin/python benchmarks/bench_vs_sgmse.py                 # forward passes, utterances estimated
    .venv/bin/python benchmarks/bench_vs_sgmse.py --utterance     # whole utterances measured (many minutes)
    .venv/bin/python benchmarks/bench_vs_sgmse.py --contiguous    # also ncse without channels-last weights

Skips with a message where the reference package is not installed (``make install`` installs it).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ncse_cli.config import from_dict  # noqa: E402
from ncse_cli.enhancement import enhance_waveforms  # noqa: E402
from ncse_cli.interop.sgmse import backbone_state  # noqa: E402
from ncse_cli.model import ModelConfig, ScoreModel  # noqa: E402
from ncse_cli.precision import autocast  # noqa: E402
from ncse_cli.sampling.bridge import BridgeODEConfig  # noqa: E402
from ncse_cli.sampling.pc import PCConfig  # noqa: E402

console = Console()


def build(loss: str = "score_matching"):
    """The reference network and ncse's with the same weights."""
    from sgmse.backbones.ncsnpp import NCSNpp
    reference = NCSNpp().eval()
    sde = "ouve" if loss == "score_matching" else "sbve"
    ours = ScoreModel(from_dict(ModelConfig, {"backbone": "base", "encoder": "none", "loss": loss, "sde": sde}),
                      load_pretrained=False).eval()
    ours.backbone.load_state_dict({**ours.backbone.state_dict(),
                                   **backbone_state(reference.state_dict(), ours.backbone)})
    return reference, ours.channels_last()  # as ncse enhance and evaluate load it


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--utterance", action="store_true", help="measure whole utterances (60 NFE: minutes each)")
    parser.add_argument("--contiguous", action="store_true",
                        help="also time ncse with contiguous (NCHW) weights, to see what channels-last gains")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import sgmse.backbones  # noqa: F401
    except ImportError as err:
        console.print(f"[yellow]skipped: the reference package sgmse is not installed ({err}); "
                      "pip install --no-deps sgmse==0.1.2 (make install does it)[/]")
        return
    reference, ours = build()
    length = int(args.seconds * 16000)
    noisy = 0.1 * torch.randn(length, generator=torch.Generator().manual_seed(0))
    y = ours.spectrogram(noisy[None])
    y = torch.nn.functional.pad(y, (0, (-y.shape[-1]) % 64))
    x = y + 0.1 * torch.randn_like(y)
    t = torch.tensor([0.5])
    cpu = torch.device("cpu")

    def forward_reference():
        reference(torch.cat([x, y], dim=1), t)

    def forward_ours(precision):
        with autocast(precision, cpu):
            ours(x, t, y)

    contenders = {"sgmse fp32": forward_reference, "ncse fp32": lambda: forward_ours("fp32"),
                  "ncse bf16": lambda: forward_ours("bf16")}
    if args.contiguous:
        plain = copy.deepcopy(ours)
        plain.backbone.to(memory_format=torch.contiguous_format)

        def forward_plain(precision):
            with autocast(precision, cpu):
                plain(x, t, y)
        contenders |= {"ncse fp32 contiguous": lambda: forward_plain("fp32"),
                       "ncse bf16 contiguous": lambda: forward_plain("bf16")}
    forward = {name: float("inf") for name in contenders}
    with torch.inference_mode():
        for name, fn in contenders.items():  # warm-up: first calls allocate and pick kernels
            fn()
        for _ in range(args.repeats):
            for name, fn in contenders.items():
                forward[name] = min(forward[name], best_of(fn, 1))

    rows = [(f"{name}, one network evaluation", forward[name]) for name in contenders]
    if args.utterance:
        utterance = measure_utterances(reference, ours, noisy)
    else:
        utterance = {f"{name}, PC 60 NFE": 60 * forward[name] for name in contenders}
        _, bridge = build("data_prediction")
        utterance |= {f"ncse {p}, bridge {n} NFE": n * forward[f"ncse {p}"] for p in ("fp32", "bf16") for n in (5, 10)}
    rows += list(utterance.items())
    base_forward, base_utt = forward["sgmse fp32"], utterance.get("sgmse fp32, PC 60 NFE")
    table = Table(title=f"{args.seconds:g} s input, {args.threads} threads, best of {args.repeats}"
                  f"{'' if args.utterance else '; utterances estimated as NFE x forward time'}", title_justify="left")
    for column in ("what", "seconds", "speed-up vs sgmse fp32"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for label, seconds in rows:
        ref = base_forward if "one network evaluation" in label else base_utt
        table.add_row(label, f"{seconds:.2f}", f"{ref / seconds:.2f}x")
    console.print(table)


def measure_utterances(reference, ours, noisy: torch.Tensor) -> dict[str, float]:
    """Whole utterances: sgmse's own predictor-corrector loop and ncse's ``enhance``."""
    from sgmse.sampling import get_pc_sampler
    from sgmse.sdes import OUVESDE
    sde = OUVESDE(theta=1.5, sigma_min=0.05, sigma_max=0.5, N=30)
    y = ours.spectrogram(noisy[None] / noisy.abs().max())
    y = torch.nn.functional.pad(y, (0, (-y.shape[-1]) % 64))
    score = lambda x, y_, t: -reference(torch.cat([x, y_], dim=1), t)  # noqa: E731
    out = {}
    with torch.inference_mode():
        start = time.perf_counter()
        get_pc_sampler("reverse_diffusion", "ald", sde, score, y, snr=0.5, corrector_steps=1)()
        out["sgmse fp32, PC 60 NFE"] = time.perf_counter() - start
        for precision in ("fp32", "bf16"):
            start = time.perf_counter()
            enhance_waveforms(ours, noisy, sampler=PCConfig(steps=30), precision=precision)
            out[f"ncse {precision}, PC 60 NFE"] = time.perf_counter() - start
        _, bridge = build("data_prediction")
        for precision in ("fp32", "bf16"):
            for steps in (5, 10):
                start = time.perf_counter()
                enhance_waveforms(bridge, noisy, sampler=BridgeODEConfig(steps=steps), precision=precision)
                out[f"ncse {precision}, bridge {steps} NFE"] = time.perf_counter() - start
    return out


if __name__ == "__main__":
    main()
