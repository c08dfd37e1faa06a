"""Prepare recipes (lhotse style ``prepare_<corpus>(corpus_dir, out_dir, ...)``): each writes JSONL manifests and
their audio, is deterministic for its seed, idempotent, and returns a :class:`PrepareResult`."""

from ncse_cli.data.prepare.demo import DemoConfig, prepare_demo
from ncse_cli.data.prepare.nonstationary import prepare_nonstationary
from ncse_cli.data.prepare.ood import prepare_ood
from ncse_cli.data.prepare.runner import ManifestSummary, PrepareError, PrepareResult
from ncse_cli.data.prepare.state import PrepareStateError
from ncse_cli.data.prepare.vbdemand import prepare_vbdemand

__all__ = ["DemoConfig", "prepare_demo", "prepare_vbdemand", "prepare_ood", "prepare_nonstationary",
           "ManifestSummary", "PrepareError", "PrepareResult", "PrepareStateError"]
