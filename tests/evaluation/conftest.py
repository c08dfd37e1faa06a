"""Tiny models and test sets shared by the enhance / evaluate / report tests."""

import pytest

from tests.dummies import make_manifest, make_model_dir


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """An untrained tiny noise-conditioned model directory (CNN encoder)."""
    return make_model_dir(tmp_path_factory.mktemp("models") / "tiny-cnn")


@pytest.fixture(scope="session")
def testset(tmp_path_factory):
    """Three one-second mixtures with clean files and noise references."""
    return make_manifest(tmp_path_factory.mktemp("data"), count=3, seconds=1.0, name="tiny_test", split="test")


@pytest.fixture(scope="session")
def evaluated(tmp_path_factory, model_dir, testset):
    """A workspace where ``cond`` (the tiny CNN model) was evaluated at w 1 and 3 and ``base`` (encoder none)
    once; returns (workspace, summaries of cond, summaries of base)."""
    import shutil

    from ncse_cli.evaluation import EvaluateOptions, evaluate
    from ncse_cli.workspace import Workspace

    ws = Workspace(tmp_path_factory.mktemp("workspace"))
    shutil.copytree(model_dir, ws.model_dir("cond"))
    make_model_dir(ws.model_dir("base"), encoder="none")
    options = EvaluateOptions(cfg_scales=(1.0, 3.0), steps=2)
    return ws, evaluate(ws, "cond", [testset], options), evaluate(ws, "base", [testset], options)
