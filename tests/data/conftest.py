"""Fixtures of the data tests: corpus trees in their official layouts, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dummies import (make_clean_dir, make_demand_tree, make_esc50_tree, make_urbansound_tree,
                           make_voicebank_tree, make_wham_tree)


@pytest.fixture(scope="session")
def trees(tmp_path_factory) -> dict[str, Path]:
    """Small VoiceBank-DEMAND, ESC-50, UrbanSound8K, WHAM!, DEMAND trees and a folder of clean speech."""
    root = tmp_path_factory.mktemp("corpora")
    return {"vb": make_voicebank_tree(root / "vb"), "esc50": make_esc50_tree(root / "esc50"),
            "urbansound": make_urbansound_tree(root / "us8k"), "wham": make_wham_tree(root / "wham"),
            "demand": make_demand_tree(root / "demand"), "clean": make_clean_dir(root / "clean", 3)}

