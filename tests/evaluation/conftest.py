"""A workspace where two tiny models were evaluated, shared by the evaluate and report tests."""

import pytest

from tests.dummies import make_model_dir


@pytest.fixture(scope="session")
def evaluated(tmp_path_factory, model_dir, testset):
    """A workspace where ``cond`` (the tiny CNN model) was evaluated at w 1 and 3 and ``base`` (encoder none)
    once; returns (workspace, summaries of cond, summaries of base)."""
    import shutil

    from ncse_cli.evaluation import EvaluateOptions, evaluate
    from ncse_cli.inference.settings import EnhanceSettings
    from ncse_cli.workspace import Workspace

    ws = Workspace(tmp_path_factory.mktemp("workspace"))
    shutil.copytree(model_dir, ws.model_dir("cond"))
    make_model_dir(ws.model_dir("base"), encoder="none")
    options = EvaluateOptions(ws=(1.0, 3.0), settings=EnhanceSettings(steps=1), dnsmos=False)
    return ws, evaluate(ws, "cond", [testset], options), evaluate(ws, "base", [testset], options)
