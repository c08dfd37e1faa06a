"""The CLI is a thin layer over ``ncse_cli.api``: it imports nothing else of the library, nothing heavy at
start-up, and its help shows the defaults that live in the library."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ncse_cli
from ncse_cli.cli import app

CLI_DIR = Path(ncse_cli.__file__).parent / "cli"
ROOT = Path(ncse_cli.__file__).parent.parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module if not node.module == "ncse_cli" else f"ncse_cli.{node.names[0].name}")
    return found


@pytest.mark.parametrize("path", sorted(CLI_DIR.glob("*.py")), ids=lambda p: p.name)
def test_the_cli_imports_only_the_api_of_the_library(path):
    library = {m for m in _imported_modules(path) if m.startswith("ncse_cli") and not m.startswith("ncse_cli.cli")}
    assert library <= {"ncse_cli.api", "ncse_cli.__version__"}, library


def test_starting_the_cli_imports_neither_torch_nor_numpy_and_training_or_evaluating_no_plotting():
    """``ncse --help`` imports nothing heavy; ``ncse train`` and ``ncse evaluate`` (with its summary table) import
    neither SciPy nor matplotlib, which only the report's statistics and figures need."""
    code = ("import sys, ncse_cli.cli, ncse_cli.api; "
            "print(sorted(m for m in ('torch', 'numpy', 'pandas', 'scipy') if m in sys.modules)); "
            "import ncse_cli.training, ncse_cli.evaluation.run, ncse_cli.report.tables; "
            "print(sorted(m for m in ('scipy', 'matplotlib') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == ["[]", "[]"]


def test_help_shows_the_defaults_and_choices_of_the_library():
    from ncse_cli.data.mixing import SNR_METHODS
    from ncse_cli.data.prepare import prepare_ood
    from ncse_cli.encoders import ENCODERS
    from ncse_cli.inference.settings import EnhanceSettings

    runner = CliRunner()

    def help_text(*command: str) -> str:
        result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "300"})
        assert result.exit_code == 0, result.output
        return " ".join(result.stdout.split())

    ood = help_text("prepare", "ood")
    assert f"[default: ({prepare_ood.__kwdefaults__['ref_seconds']:g})]" in ood
    assert "[default: (0 5 10)]" in ood and f"[{'|'.join(SNR_METHODS)}]" in ood
    assert f"[default: ({EnhanceSettings.device})]" in help_text("enhance")
    assert f"[{'|'.join(ENCODERS.names())}]" in help_text("train")
