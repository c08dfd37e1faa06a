"""Data preparation behind ``ncse prepare`` (lhotse style ``prepare_<corpus>(corpus_dir, out_dir, ...)``): each
recipe writes JSONL manifests and their audio, is deterministic for its seed, idempotent, and returns a
:class:`PrepareResult`. (The YAML files in the repository's ``recipes/`` folder are training recipes.)"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

from ncse_cli.data.prepare.auto_refs import AUTO, with_auto_references
from ncse_cli.data.prepare.demo import DemoConfig, prepare_demo
from ncse_cli.data.prepare.nonstationary import prepare_nonstationary
from ncse_cli.data.prepare.ood import prepare_ood
from ncse_cli.data.prepare.runner import ManifestSummary, PrepareError, PrepareResult
from ncse_cli.data.prepare.state import PrepareStateError
from ncse_cli.data.prepare.vbdemand import prepare_vbdemand

#: The recipes of ``ncse prepare NAME``.
RECIPES: dict[str, Callable[..., PrepareResult]] = {"demo": prepare_demo, "vbdemand": prepare_vbdemand,
                                                    "ood": prepare_ood, "nonstationary": prepare_nonstationary}


def recipe_parameters(name: str) -> list[Any]:
    """Where the options of recipe ``name`` and their defaults are declared: its prepare function (and for the
    demo :class:`DemoConfig`, whose fields are options of their own)."""
    if name not in RECIPES:
        raise PrepareError(f"unknown recipe {name!r} (known: {', '.join(RECIPES)})")
    return [RECIPES[name], *([DemoConfig] if name == "demo" else [])]


def prepare_recipe(name: str, out_dir: str | os.PathLike, **options: Any) -> PrepareResult:
    """Run recipe ``name`` into ``out_dir`` with the keyword ``options`` of its prepare function; for the demo,
    options named like :class:`DemoConfig` fields set the corpus's sizes. ``ref_source="auto"`` (any recipe)
    prepares the recipe's own references, then derives an ``_auto`` manifest beside each
    (:mod:`ncse_cli.data.prepare.auto_refs`)."""
    recipe = recipe_parameters(name)[0]
    auto = options.get("ref_source") == AUTO
    if auto or (name != "vbdemand" and options.get("ref_source") is not None):
        source = options.pop("ref_source")
        if not auto:
            raise PrepareError(f"prepare {name}: --ref-source takes only {AUTO!r} here, got {source!r}")
    if name == "demo":
        fields = {f.name for f in dataclasses.fields(DemoConfig)} - {"seed"}
        corpus = {key: options.pop(key) for key in list(options) if key in fields}
        options["config"] = DemoConfig(**corpus)
    result = recipe(out_dir=out_dir, **options)
    if not auto:
        return result
    return with_auto_references(result, options.get("overwrite", False), options.get("progress"))


__all__ = ["DemoConfig", "ManifestSummary", "PrepareError", "PrepareResult", "PrepareStateError", "RECIPES",
           "prepare_demo", "prepare_nonstationary", "prepare_ood", "prepare_recipe", "prepare_vbdemand",
           "recipe_parameters"]
