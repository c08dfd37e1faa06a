"""Quality against network evaluations at an equal training budget: SGMSE+'s OUVE model and the Schrodinger bridge.

Both tiny models train on the demo corpus with the same steps, data, seed, batch, crops and learning rate (the
demo's settings), unconditioned so that only the formulation differs. Each is then evaluated on the demo test set
at several numbers of network evaluations (NFE): the OUVE model with SGMSE+'s predictor-corrector sampler (two
evaluations per step) and, where the NFE is odd, with the probability-flow ODE (one per step); the bridge with its
ODE sampler (one per step). Printed: PESQ / ESTOI / SI-SDR per model and NFE, with the noisy input's.

    .venv/bin/python benchmarks/bench_bridge_quality.py                  # about 15 minutes on 2 CPU cores
    .venv/bin/python benchmarks/bench_bridge_quality.py --steps 2000     # a longer budget

Everything lives under ``--out`` (default ``bench-bridge``); a re-run reuses the data, trained models and results.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ncse_cli import api  # noqa: E402
from ncse_cli.catalog import trained_steps  # noqa: E402
from ncse_cli.data.config import data_config_from_path  # noqa: E402
from ncse_cli.data.prepare import prepare_demo  # noqa: E402
from ncse_cli.demo import DEMO_MODEL, DEMO_TRAIN  # noqa: E402
from ncse_cli.training import resolve_run_config, train  # noqa: E402
from ncse_cli.training.state import latest_checkpoint  # noqa: E402
from ncse_cli.workspace import Workspace  # noqa: E402

console = Console()
NFES = (1, 2, 5, 10, 30, 60)
FORMULATIONS = {"ouve": {"sde": "ouve", "loss": "score_matching"},
                "bridge": {"sde": "sbve", "loss": "data_prediction"}}


def is_trained(directory: Path, steps: int) -> bool:
    """True when ``directory`` holds a finished run of ``steps`` steps."""
    return directory.is_dir() and latest_checkpoint(directory) is not None and trained_steps(directory) == steps


def sampler_for(formulation: str, nfe: int) -> dict:
    """The sampler (with its default settings) giving ``nfe`` network evaluations."""
    if formulation == "bridge":
        return {"name": "sb-ode", "steps": nfe}
    return {"name": "pc", "steps": nfe // 2} if nfe % 2 == 0 else {"name": "ode", "steps": nfe}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench-bridge"))
    parser.add_argument("--steps", type=int, default=250, help="training steps of each model")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = args.out / "data"
    prepare_demo(data, args.seed)
    workspace = Workspace(args.out / "runs")
    rows = []
    for name, formulation in FORMULATIONS.items():
        model = {**{k: v for k, v in DEMO_MODEL.items() if k != "conditioning"}, **formulation, "encoder": "none"}
        train_cfg = {**DEMO_TRAIN, "steps": args.steps, "p_uncond": 0.0, "seed": args.seed,
                     "val_every": args.steps, "save_every": args.steps}
        sampler = sampler_for(name, 5)
        cfg = resolve_run_config(overrides={"model": model, "train": train_cfg, "sampler": sampler},
                                 data=data_config_from_path(data))
        if not is_trained(workspace.model_dir(name), args.steps):
            console.print(f"training {name} for {args.steps} steps ...")
            train(cfg, workspace, name, overwrite=workspace.model_dir(name).exists())
        for nfe in NFES:
            sampler = sampler_for(name, nfe)
            label = f"{sampler['name']} {sampler['steps']} steps"
            settings = api.EnhanceSettings(steps=sampler["steps"], sampler=sampler["name"], precision="fp32",
                                           seed=args.seed)
            summaries = api.evaluate(name, [data / "test.jsonl"], settings=settings, overwrite=True,
                                     dnsmos=False, workdir=workspace.root)
            noisy, result = summaries[0], summaries[-1]
            rows.append((name, nfe, label, result))
    table = Table(title=f"demo test set, {args.steps} training steps each, unconditioned tiny NCSN++",
                  title_justify="left")
    for column in ("model", "NFE", "sampler", "PESQ", "ESTOI", "SI-SDR (dB)"):
        table.add_column(column, justify="left" if column in ("model", "sampler") else "right")
    metrics = ("pesq", "estoi", "si_sdr")
    table.add_row("noisy input", "-", "-", *(f"{noisy.metrics[m].mean:.2f}" for m in metrics))
    for name, nfe, label, result in rows:
        table.add_row(name, str(nfe), label, *(f"{result.metrics[m].mean:.2f}" for m in metrics))
    console.print(table)


if __name__ == "__main__":
    main()
