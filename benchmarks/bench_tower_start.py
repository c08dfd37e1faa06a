"""What building a pre-trained noise encoder costs a fresh process: the start of every ``ncse train``,
``enhance`` or ``evaluate`` run of a ``clap`` or ``panns`` model, and of each of its worker processes.

Each row is one encoder built in a new interpreter, as ``load_model`` builds it (``load_pretrained`` off: the
tower is built without drawing its random initialisation, every weight then comes from the model directory),
after ``import torch``. ``imports`` is the time to import the encoder's module, ``build`` the time to build it;
the last column lists the heavy packages the build brought in. ``--upstream`` builds the towers as their
packages do: torchlibrosa's front end from librosa (:mod:`ncse_cli.encoders.front_end` off) and laion-clap's
top-level torchvision import (:data:`ncse_cli.encoders.clap.DEFERRED` emptied). Times are the median of
``--repeats`` processes; other processes sharing the cores inflate them.

Run::

    .venv/bin/python benchmarks/bench_tower_start.py
    .venv/bin/python benchmarks/bench_tower_start.py --upstream
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

CHILD = """
import contextlib, json, sys, time
import torch
torch.set_num_threads(1)
start = time.perf_counter()
from ncse_cli.encoders import ENCODERS, EncoderContext
from ncse_cli.encoders import clap, panns
imported = time.perf_counter()
if sys.argv[2] == "upstream":
    clap.lean_front_end = panns.lean_front_end = contextlib.nullcontext
    clap.DEFERRED = {}
cls = ENCODERS.get(sys.argv[1])
cls(cls.Config(dim=16), EncoderContext(load_pretrained=False))
built = time.perf_counter()
heavy = ("torchvision", "torch._dynamo", "librosa.filters", "numba", "scipy.signal", "transformers")
print(json.dumps({"imports": imported - start, "build": built - imported,
                  "heavy": [m for m in heavy if m in sys.modules]}))
"""

ENCODER_NAMES = ("clap", "panns")


def run_child(name: str, upstream: bool) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, name, "upstream" if upstream else "ncse"],
                          capture_output=True, text=True, check=True, env={"OMP_NUM_THREADS": "1",
                                                                           "HF_HUB_OFFLINE": "1", "PATH": ""})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(repeats: Annotated[int, typer.Option(help="Processes per encoder; the table shows medians.")] = 3,
         upstream: Annotated[bool, typer.Option(help="Build the towers as their packages do (see above).")] = False,
         ) -> None:
    table = Table(title=f"Building a pre-trained encoder in a fresh process ({'upstream' if upstream else 'ncse'})")
    for column in ("encoder", "imports (s)", "build (s)", "heavy packages imported"):
        table.add_column(column, justify="left" if column in {"encoder", "heavy packages imported"} else "right")
    for name in ENCODER_NAMES:
        runs = [run_child(name, upstream) for _ in range(repeats)]
        table.add_row(name, f"{statistics.median(r['imports'] for r in runs):.2f}",
                      f"{statistics.median(r['build'] for r in runs):.2f}", ", ".join(runs[-1]["heavy"]) or "-")
    Console().print(table)


if __name__ == "__main__":
    typer.run(main)
