"""Shared pytest setup: deterministic torch on one thread, and no network for hub-aware libraries.

One thread, in this process and in every process a test starts (``OMP_NUM_THREADS`` is inherited): the models
in the tests are tiny, so a second thread saves little, and on a shared 2-core machine OpenMP threads that spin
waiting for each other made single tests ten times slower (the README example: 194 s with two threads under
load, 32 s with one).

Tests that start worker pools (``ncse_cli.workers``, a DataLoader on ``forkserver``) share the xdist group
``forkserver``: a process starts one fork server, with the modules its first pool asks to preload, and every later
pool forks from it. In one worker, the demo's pool (slow, so first) starts it with the training and evaluation
stack, and the others fork from it instead of each worker starting and filling a server of its own (4-5 s).
"""

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

# torch and the test factories are imported by the fixtures below, not here: with xdist, the controlling process
# loads this file too, before it starts the workers, and runs no test.


def pytest_collection_modifyitems(items):
    """Tests marked ``slow`` first: with several workers (``make test``: ``-n auto``) the long tests start early
    and the short ones fill the gaps, instead of one long test running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


#: Set by the garbage collector's callback when a full (generation 2) collection has finished.
_FULL_COLLECTION: list[bool] = []


def _note_full_collection(phase, info):
    if phase == "stop" and info["generation"] == 2:
        _FULL_COLLECTION.append(True)


def pytest_collection_finish(session):
    """What the worker holds after collection (torch, pandas, matplotlib, every test module) is moved out of the
    garbage collector's sight (``gc.freeze``), and so is what outlives each test during which a full collection
    ran (:func:`pytest_runtest_protocol`). A full collection otherwise walks every object of the process again:
    17-18 of them took 4-6 s of each worker's time, 1-2 s so. Frozen objects are still freed by reference
    counting; only a reference cycle among them lives until the worker exits (peak memory did not change: 2.8 GB
    a worker)."""
    import gc

    gc.collect()
    gc.freeze()
    gc.callbacks.append(_note_full_collection)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """After a test (its fixtures released) during which a full collection ran: collect what it left in reference
    cycles, then freeze the rest (cheap: only what is not frozen yet is walked)."""
    result = yield
    if _FULL_COLLECTION:
        import gc

        gc.collect()
        _FULL_COLLECTION.clear()  # that collection reported itself too
        gc.freeze()
    return result


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """An xdist worker leaves without finalising its interpreter: by now it has sent every result and its session
    end to the controller (execnet writes and flushes each message as it is sent), and tearing down torch, pandas,
    matplotlib and the rest held the controller 2-4 s at the end of every run while it waited for the workers to
    exit. A run without xdist ends as usual."""
    if hasattr(config, "workerinput"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    import torch

    torch.manual_seed(0)
    yield


@pytest.fixture
def isolated_weights(tmp_path, monkeypatch):
    """Default checkpoint locations point into an empty folder; downloads are off: pre-trained towers find no
    official weights and keep their random ones."""
    monkeypatch.setenv("NCSE_CACHE", str(tmp_path / "ncse-cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NCSE_ALLOW_DOWNLOAD", raising=False)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """An untrained tiny noise-conditioned model directory (CNN encoder)."""
    from tests.dummies import make_model_dir

    return make_model_dir(tmp_path_factory.mktemp("models") / "tiny-cnn")


@pytest.fixture(scope="session")
def testset(tmp_path_factory):
    """Three one-second mixtures with clean files and noise references."""
    from tests.dummies import make_manifest

    return make_manifest(tmp_path_factory.mktemp("data"), count=3, seconds=1.0, name="tiny_test", split="test")
