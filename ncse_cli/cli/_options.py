"""Options shared by several commands. A parameter is named like the library's (``w``, ``steps``, ``seed``,
``batch_size``, ``device``), so that ``--help`` can show the library's default for it; ``None`` means "not given"."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

Workdir = Annotated[Optional[Path], typer.Option(help="Workspace folder [dim](default: $NCSE_HOME or ./ncse-runs)[/].",
                                                 show_default=False)]
Model = Annotated[str, typer.Option("--model", "-m", help="A model name of the workspace, or a model directory.",
                                    show_default=False)]
W_HELP = ("Classifier-free guidance scale w: 1 = conditional score, 0 = unconditional, >1 = stronger conditioning "
          "(--cfg-scale, its old name, still works).")
Steps = Annotated[Optional[int], typer.Option(min=1, help="Reverse-diffusion sampler steps [dim](default: the "
                                              "model's saved sampler)[/].", show_default=False)]
Seed = Annotated[Optional[int], typer.Option(help="Seed of the sampler noise; each utterance draws from (seed, its "
                                             "id), so results do not depend on order or batching.")]
BatchSize = Annotated[Optional[int], typer.Option(min=1, help="Utterances of equal length per forward pass (helps "
                                                  "on GPUs; results are unchanged).")]
Device = Annotated[Optional[str], typer.Option(help="Where the model runs: auto (a CUDA GPU, else Apple MPS, else "
                                               "the CPU), cpu, cuda, cuda:1, mps. Results do not depend on it "
                                               "beyond float rounding.")]
ShowProgress = Annotated[bool, typer.Option(help="Show progress bars.")]
Precision = Annotated[Optional[str], typer.Option(metavar="[auto|fp32|bf16|fp16]", help="Arithmetic of the score "
                                                  "network: auto (bf16 on a GPU with bfloat16 or a CPU with AMX, "
                                                  "else fp32), fp32, bf16, fp16 (GPUs). The sampler and the output "
                                                  "stay float32; bf16 output is within about 45 dB SI-SDR of fp32.")]
Sampler = Annotated[Optional[str], typer.Option(metavar="[pc|ode|sb-ode|sb-sde]", help="Sampler instead of the "
                                                "model's saved one (with its defaults; --steps still applies): pc "
                                                "or ode for OUVE models, sb-ode or sb-sde for bridge models.",
                                                show_default=False)]
Window = Annotated[Optional[float], typer.Option(min=0.0, help="Seconds per window of a file too long to enhance "
                                                "whole (shorter files are enhanced whole) [dim](default: twice the "
                                                "model's training crop, at least 4 s)[/].", show_default=False)]
Overlap = Annotated[Optional[float], typer.Option(min=0.0, help="Seconds cross-faded between consecutive windows "
                                                 "[dim](default: an eighth of the window)[/].", show_default=False)]
