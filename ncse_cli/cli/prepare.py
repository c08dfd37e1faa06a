"""``ncse prepare ...``: build manifests from the built-in demo corpus and from real corpora."""

from __future__ import annotations

import typer

app = typer.Typer(help="Prepare data: write JSONL manifests (and mixtures) for training and evaluation.",
                  no_args_is_help=True, rich_markup_mode="rich")
