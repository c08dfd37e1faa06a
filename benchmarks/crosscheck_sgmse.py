"""Cross-check ncse's SGMSE+ mode against the reference implementation (sgmse 0.1.2), number by number.

For each piece, the same inputs and weights go through both toolkits and the largest difference is printed
relative to the largest value (the table in README.md, "Does ncse match SGMSE+?"). The tests assert the same
comparisons at small sizes (tests/backbones/test_sgmse_reference.py, tests/interop/test_sgmse_import.py,
tests/core/test_bridge.py); this script adds the full 65 M-parameter ``base`` networks (``ncsnpp``, ``ncsnpp_v2``
and the full-band ``ncsnpp_48k``).

    .venv/bin/python benchmarks/crosscheck_sgmse.py            # about a minute on 2 CPU cores
    .venv/bin/python benchmarks/crosscheck_sgmse.py --quick    # without the full-size network

Needs the reference package: ``pip install --no-deps sgmse==0.1.2`` plus ``pip install 'ncse[reference]'``
(``make install`` does both).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ncse_cli.config import from_dict  # noqa: E402
from ncse_cli.interop.sgmse import backbone_state, write_model_directory  # noqa: E402
from ncse_cli.model import ModelConfig, ScoreModel  # noqa: E402

console = Console()


@contextlib.contextmanager
def float64_fir():
    """The reference's FIR kernel is built in float32 each call; its taps are exact, so float64 is the same."""
    from sgmse.backbones.ncsnpp_utils import up_or_down_sampling as fir
    setup = fir._setup_kernel
    fir._setup_kernel = lambda k: setup(k).astype("float64")
    try:
        yield
    finally:
        fir._setup_kernel = setup


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def network_row(layout: dict, frames: int, kind: str) -> tuple[str, float]:
    from sgmse import backbones
    from tests.dummies import NCSNPP_48K_OPTIONS, randomize_
    loss = "data_prediction" if kind == "NCSNpp_v2" else "score_matching"
    options = NCSNPP_48K_OPTIONS if kind == "NCSNpp_48k" else {}
    ref = randomize_(getattr(backbones, kind)(**layout, image_size=256), seed=3).double().eval()
    cfg = from_dict(ModelConfig, {"backbone": {"name": "base", **{k: list(v) if isinstance(v, tuple) else v
                                                                   for k, v in layout.items()}, **options},
                                  "encoder": "none", "loss": loss,
                                  "sde": "ouve" if loss == "score_matching" else "sbve"})
    ours = ScoreModel(cfg, load_pretrained=False).double().eval()
    ours.backbone.load_state_dict({**ours.backbone.state_dict(), **backbone_state(ref.state_dict(), ours.backbone)})
    gen = torch.Generator().manual_seed(0)
    x, y = (0.4 * torch.randn(1, 1, 256, frames, dtype=torch.complex128, generator=gen) for _ in range(2))
    t = torch.tensor([0.37], dtype=torch.float64)
    with torch.no_grad(), float64_fir():
        if loss == "score_matching":
            return "score (float64)", relative(ours.score(x, t, y), -ref(torch.cat([x, y], dim=1), t))
        return "clean estimate (float64)", relative(ours.clean(x, t, y), ref(x, y, t))


def enhance_row(backbone: str, sde: str, steps: int, seconds: float = 1.0, **hparams) -> float:
    """Import a checkpoint written with the reference's classes and enhance with both, float64, same noise."""
    from ncse_cli.model_dir import load_model
    from ncse_cli.enhancement import enhance_waveforms
    from ncse_cli.sampling.bridge import BridgeODEConfig
    from ncse_cli.sampling.pc import PCConfig
    from tests.dummies import noise, sgmse_reference_model, speech, write_sgmse_checkpoint
    ref = sgmse_reference_model(backbone, sde, N=steps, **hparams)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_sgmse_checkpoint(ref, Path(tmp) / "m.ckpt")
        write_model_directory(path, Path(tmp) / "imported")
        model = load_model(Path(tmp) / "imported").double()
    for shadow in ref.ema.shadow_params:
        shadow.data = shadow.data.double()
    ref.double().data_module.window = ref.data_module.window.double()
    rate = hparams.get("sr", 16000)
    noisy = torch.from_numpy(speech(seconds, rate, seed=1) + noise(seconds, rate, seed=2, level=0.05)).double()
    sampler = PCConfig(steps=steps) if sde == "ouve" else BridgeODEConfig(steps=steps)
    ours = enhance_waveforms(model, noisy, sampler=sampler, generator=torch.Generator().manual_seed(7)).waveform
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # the reference's enhance calls .cuda()
    ref.eval()
    torch.manual_seed(7)
    with torch.no_grad(), float64_fir():
        kwargs = {"N": steps, "corrector_steps": 1, "snr": 0.5} if sde == "ouve" else {}
        theirs = ref.enhance(noisy[None], **kwargs)
    return relative(ours, torch.from_numpy(theirs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the full-size base network")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    try:
        import sgmse.model  # noqa: F401
    except ImportError as err:
        console.print(f"[yellow]skipped: the reference package is not installed ({err}); "
                      "pip install --no-deps sgmse==0.1.2 && pip install 'ncse[reference]'[/]")
        return
    from tests.dummies import SGMSE_BASE_LAYOUT, SGMSE_FULL_BAND, SGMSE_FULL_BAND_HPARAMS, SGMSE_TINY
    full = {"nf": 128, "ch_mult": (1, 1, 2, 2, 2, 2, 2), "num_res_blocks": 2, "attn_resolutions": (16,)}
    layouts = [("tiny", SGMSE_TINY, 32), ("base layout, nf 8", SGMSE_BASE_LAYOUT, 64)]
    if not args.quick:
        layouts.append(("base (65 M)", full, 64))
    table = Table(title="ncse vs sgmse 0.1.2: largest difference / largest value", title_justify="left")
    for column in ("piece", "network", "compared", "relative difference"):
        table.add_column(column, justify="right" if column.startswith("relative") else "left")
    for label, layout, frames in layouts:
        for kind in ("NCSNpp", "NCSNpp_v2", "NCSNpp_48k"):
            # ncsnpp_48k as SGMSE+ builds it: no self-attention but the middle block's
            what, diff = network_row({**layout, "attn_resolutions": ()} if kind == "NCSNpp_48k" else layout, frames,
                                     kind)
            table.add_row(f"{kind.lower()} network", label, what, f"{diff:.1e}")
    table.add_row("import + enhance, OUVE, PC 30 steps", "tiny", "waveform (float64, same noise)",
                  f"{enhance_row('ncsnpp', 'ouve', 30):.1e}")
    table.add_row("import + enhance, SB-VE, ODE 5 steps", "tiny", "waveform (float64)",
                  f"{enhance_row('ncsnpp_v2', 'sbve', 5):.1e}")
    full_band = enhance_row("ncsnpp_48k", "ouve", 5, 0.5, **{**SGMSE_FULL_BAND, "nf": 4}, **SGMSE_FULL_BAND_HPARAMS)
    table.add_row("import + enhance, ncsnpp_48k at 48 kHz, OUVE, PC 5 steps", "nf 4, 5 levels",
                  "waveform (float64, same noise)", f"{full_band:.1e}")
    console.print(table)


if __name__ == "__main__":
    main()
