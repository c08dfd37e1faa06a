"""Cost of a training checkpoint when the model holds a frozen pre-trained tower (PANNs Cnn14, 82 M parameters).

A session of the tiny recipe with the ``panns`` encoder (frozen, random tower: saving does not need the official
weights) saves ``--saves`` checkpoints in a row, as training does every ``save_every`` steps. The first writes the
tower to ``frozen.safetensors``; the later ones hard-link it (:mod:`ncse_cli.training.checkpoints`). For each
save the table shows the wall time of the checkpoint alone (the export of ``model.safetensors``, which holds the
whole model, is timed apart) and the bytes the checkpoint folder adds on disk (linked files count once).

Run::

    .venv/bin/python benchmarks/bench_checkpoint.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.console import Console
from rich.table import Table

from ncse_cli.data.prepare.demo import DemoConfig, prepare_demo
from ncse_cli.training import run_config_for
from ncse_cli.training.checkpoints import assemble_checkpoint, commit_checkpoint, export
from ncse_cli.training.session import build_session
from ncse_cli.training.state import checkpoint_dir

RECIPE = Path(__file__).parents[1] / "recipes" / "tiny.yaml"


def disk_bytes(folder: Path, seen: set[int]) -> int:
    """Bytes of the files under ``folder`` whose inodes are not in ``seen`` (which is updated)."""
    total = 0
    for path in folder.rglob("*"):
        info = path.stat()
        if path.is_file() and info.st_ino not in seen:
            seen.add(info.st_ino)
            total += info.st_size
    return total


def main(saves: Annotated[int, typer.Option(help="Checkpoints to save in a row.")] = 4) -> None:
    """Save ``saves`` checkpoints of a frozen-PANNs model and print what each cost."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "demo"
        prepare_demo(data, config=DemoConfig(num_train=8, num_valid=2, num_test=1))
        cfg = run_config_for(tmp, "panns", recipe=RECIPE, data=data, overrides={"model": {"encoder": "panns"}})
        run_dir = Path(tmp) / "models" / "panns"
        run_dir.mkdir(parents=True)
        session = build_session(cfg, run_dir)
        frozen = sum(p.numel() for p in session.model.parameters() if not p.requires_grad)
        table = Table(title=f"checkpoints of a tiny model with a frozen Cnn14 ({frozen / 1e6:.1f} M frozen parameters)")
        for column in ("save", "checkpoint (s)", "checkpoint adds (MB)", "export (s)"):
            table.add_column(column, justify="right")
        seen: set[int] = set()
        for n in range(saves):
            session.step = n
            start = time.perf_counter()
            export(session)
            exported = time.perf_counter() - start
            start = time.perf_counter()
            commit_checkpoint(assemble_checkpoint(session, run_dir), checkpoint_dir(run_dir, n))
            seconds = time.perf_counter() - start
            added = disk_bytes(checkpoint_dir(run_dir, n), seen)
            table.add_row(str(n + 1), f"{seconds:.2f}", f"{added / 1e6:.0f}", f"{exported:.2f}")
        Console().print(table)


if __name__ == "__main__":
    typer.run(main)
