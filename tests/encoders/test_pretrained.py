"""The machinery shared by the pre-trained encoders, without building a tower: windows, lengths, the embedding
cache, checkpoint reading and finding, safe imports and config validation."""

import importlib
import pickle
import sys

import numpy as np
import pytest
import torch
import torchaudio.functional as AF
from safetensors.torch import save_file
from torch import nn

from ncse_cli.config import ConfigError, from_dict
from ncse_cli.encoders import ENCODERS
from ncse_cli.encoders.cache import EmbeddingCache, fingerprint
from ncse_cli.encoders.pretrained import (MissingPackageError, OfficialWeights, PretrainedWeightsError,
                                          deferred_imports, fit_window, import_detached, load_exact,
                                          read_checkpoint, resampled_lengths, resolve_checkpoint, valid_lengths)

pytestmark = pytest.mark.usefixtures("isolated_weights")


def test_fit_window_repeat_pads_whole_copies_then_zeros():
    wave = torch.tensor([[1.0, 2.0, 3.0, 9.0, 9.0]])  # 3 valid samples, then padding
    out = fit_window(wave, torch.tensor([3]), 8)
    assert out.tolist() == [[1, 2, 3, 1, 2, 3, 0, 0]]


def test_fit_window_crops_the_centre_and_keeps_exact_lengths():
    wave = torch.arange(10.0)[None].repeat(3, 1)
    out = fit_window(wave, torch.tensor([10, 6, 4]), 4)
    assert out.tolist() == [[3, 4, 5, 6], [1, 2, 3, 4], [0, 1, 2, 3]]


def test_fit_window_passes_gradients_to_the_valid_samples():
    wave = torch.randn(1, 6, requires_grad=True)
    fit_window(wave, torch.tensor([2]), 5).sum().backward()
    assert wave.grad.tolist() == [[2, 2, 0, 0, 0, 0]]  # two whole copies of 2 samples fit in 5


@pytest.mark.parametrize("n", [1, 7, 4000, 4001, 16000])
@pytest.mark.parametrize("rate", [32000, 48000, 22050])
def test_resampled_lengths_match_torchaudio(n, rate):
    out = AF.resample(torch.zeros(n), 16000, rate)
    assert resampled_lengths(torch.tensor([n]), 16000, rate).item() == out.shape[-1]


def test_valid_lengths_defaults_and_rejects_impossible_values():
    ref = torch.zeros(2, 10)
    assert valid_lengths(ref, None).tolist() == [10, 10]
    for bad in ([0, 5], [5, 11], [5]):
        with pytest.raises(ValueError, match="lengths"):
            valid_lengths(ref, torch.tensor(bad))


def test_fingerprint_ignores_padding_but_not_level():
    ref = torch.randn(1, 50)
    padded = torch.cat([ref, torch.randn(1, 20)], dim=1)
    a = fingerprint(ref, torch.tensor([50]))
    assert torch.equal(a, fingerprint(padded, torch.tensor([50])))
    assert not torch.allclose(a, fingerprint(2 * ref, torch.tensor([50])))


def test_cache_is_least_recently_used_and_checks_the_fingerprint():
    cache = EmbeddingCache(capacity=2)
    p = torch.ones(4, dtype=torch.float64)
    cache.store("a", p, torch.tensor([1.0]))
    cache.store("b", p, torch.tensor([2.0]))
    assert cache.lookup(["a"], p[None])[0].item() == 1.0  # "a" is now the most recent
    cache.store("c", p, torch.tensor([3.0]))  # evicts "b"
    assert cache.lookup(["b", "c"], p[None].repeat(2, 1))[0] is None
    assert cache.lookup(["c"], 2 * p[None]) == [None]  # same key, another level: stale
    assert (cache.stats.hits, cache.stats.misses, cache.stats.stale) == (2, 2, 1)
    assert len(cache) == 2


def test_cache_never_stores_empty_keys_or_at_capacity_zero():
    p = torch.ones(4, dtype=torch.float64)
    for cache, key in ((EmbeddingCache(4), ""), (EmbeddingCache(0), "a")):
        cache.store(key, p, torch.tensor([1.0]))
        assert len(cache) == 0 and cache.lookup([key], p[None]) == [None]
    with pytest.raises(ValueError):
        EmbeddingCache(-1)


def test_read_checkpoint_accepts_numpy_training_state_and_safetensors(tmp_path):
    torch.save({"model": {"w": torch.ones(2)}, "sampler": {"queue": np.arange(4)}, "iteration": 3},
               tmp_path / "a.pth")
    obj = read_checkpoint(tmp_path / "a.pth")
    assert torch.equal(obj["model"]["w"], torch.ones(2)) and obj["sampler"]["queue"].tolist() == [0, 1, 2, 3]
    save_file({"w": torch.arange(3.0)}, str(tmp_path / "b.safetensors"))
    assert read_checkpoint(tmp_path / "b.safetensors")["w"].tolist() == [0, 1, 2]


class _Payload:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_read_checkpoint_refuses_pickled_code_and_garbage(tmp_path, capsys):
    torch.save({"model": {}, "extra": _Payload()}, tmp_path / "evil.pt")
    with pytest.raises(PretrainedWeightsError, match="evil.pt: holds more than weights"):
        read_checkpoint(tmp_path / "evil.pt")
    assert "pickled code ran" not in capsys.readouterr().out
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(PretrainedWeightsError, match="junk.pt: not a readable PyTorch checkpoint"):
        read_checkpoint(tmp_path / "junk.pt")
    (tmp_path / "list.pt").write_bytes(pickle.dumps([1, 2], protocol=2))
    with pytest.raises(PretrainedWeightsError, match="list.pt"):
        read_checkpoint(tmp_path / "list.pt")


def test_load_exact_names_what_does_not_fit():
    net = nn.Linear(3, 2)
    with pytest.raises(PretrainedWeightsError, match=r"src: does not fit the tower \(missing: bias; "
                                                     r"unexpected: extra; shape: weight \(2, 4\) vs \(2, 3\)\)"):
        load_exact(net, {"weight": torch.zeros(2, 4), "extra": torch.zeros(1)}, "src")
    load_exact(net, {"weight": torch.ones(2, 3), "bias": torch.zeros(2)}, "src")
    assert torch.equal(net.weight, torch.ones(2, 3))


WEIGHTS = OfficialWeights(what="Test tower", folder="test", filename="w.pt", url="https://example.org/w.pt",
                          flag="--test-ckpt")


def test_resolve_checkpoint_order_and_no_download_by_default(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("download attempted")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    given = tmp_path / "given.pt"
    assert resolve_checkpoint(WEIGHTS, str(given)) is None  # given but missing: deferred, never a fallback
    given.write_bytes(b"x")
    assert resolve_checkpoint(WEIGHTS, str(given)) == given
    assert resolve_checkpoint(WEIGHTS, None) is None
    WEIGHTS.default_path.parent.mkdir(parents=True)
    WEIGHTS.default_path.write_bytes(b"")  # an empty leftover of an offline wget is no checkpoint
    assert resolve_checkpoint(WEIGHTS, None) is None
    WEIGHTS.default_path.write_bytes(b"x")
    assert resolve_checkpoint(WEIGHTS, None) == WEIGHTS.default_path


def test_resolve_checkpoint_downloads_to_the_default_place_when_allowed(monkeypatch):
    calls = []

    def fake_download(url, dst, progress=True):
        calls.append(url)
        open(dst, "wb").write(b"weights")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    monkeypatch.setenv("NCSE_ALLOW_DOWNLOAD", "1")
    assert resolve_checkpoint(WEIGHTS, None) == WEIGHTS.default_path
    assert calls == [WEIGHTS.url] and WEIGHTS.default_path.read_bytes() == b"weights"


def test_missing_message_says_where_to_get_and_put_the_file():
    message = WEIGHTS.missing_message("/data/w.pt")
    for part in ("/data/w.pt not found", WEIGHTS.url, str(WEIGHTS.default_path), "--test-ckpt",
                 "NCSE_ALLOW_DOWNLOAD=1"):
        assert part in message


def test_import_detached_names_the_missing_package():
    with pytest.raises(MissingPackageError, match=r"no_such_pkg package is not installed \(pip install it\)"):
        import_detached("no_such_pkg", "models", install="pip install it")


@pytest.fixture
def scratch_packages(tmp_path, monkeypatch):
    """``tmp_path`` on ``sys.path``; the modules the test imports from there leave ``sys.modules`` after it."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    stems = {p.stem for p in tmp_path.iterdir()}
    for name in set(sys.modules) - before:
        if name.split(".")[0].removeprefix("_ncse_") in stems:  # with import_detached's alias packages
            del sys.modules[name]


def test_a_deferred_name_imports_its_module_on_first_call_and_leaves_no_stand_in(scratch_packages):
    tmp_path = scratch_packages
    (tmp_path / "deferredpkg").mkdir()
    (tmp_path / "deferredpkg" / "__init__.py").write_text("")
    (tmp_path / "deferredpkg" / "inner.py").write_text("def triple(x):\n    return 3 * x\n")
    (tmp_path / "deferreduser.py").write_text("from deferredpkg.inner import triple\nfrom json import dumps\n")
    dumps = sys.modules["json"].dumps
    with deferred_imports({"deferredpkg.inner": ("triple",), "json": ("dumps",)}):
        user = importlib.import_module("deferreduser")
        with pytest.raises(ImportError, match="deferredpkg.inner.triple was called while its import is deferred"):
            user.triple(2)
    assert "deferredpkg" not in sys.modules and "deferredpkg.inner" not in sys.modules
    assert sys.modules["json"].dumps is dumps and user.dumps is dumps  # an imported package is left alone
    assert user.triple(2) == 6  # the first call imports the real module
    assert sys.modules["deferredpkg.inner"].__file__ == str(tmp_path / "deferredpkg" / "inner.py")


@pytest.mark.parametrize("line, name", [("from deferredvision.ops import other", "deferredvision.ops"),
                                        ("from deferredvision import transforms", "deferredvision")])
def test_a_deferred_import_the_package_no_longer_fits_is_named_as_such(scratch_packages, line, name):
    tmp_path = scratch_packages
    (tmp_path / "fitpkg").mkdir()
    (tmp_path / "fitpkg" / "__init__.py").write_text("")
    (tmp_path / "fitpkg" / "model.py").write_text(line + "\n")
    with pytest.raises(MissingPackageError, match=rf"fitpkg imports {name}, which ncse defers as "
                                                  r"\['deferredvision.ops.misc'\]: the installed fitpkg is not"):
        import_detached("fitpkg", "model", deferred={"deferredvision.ops.misc": ("Frozen",)})


@pytest.mark.parametrize("name, fields, match", [
    ("clap", {"dim": 0}, "dim must be positive"),
    ("clap", {"lr": -1e-4, "freeze": False}, "lr must be positive"),
    ("panns", {"lr": 1e-5}, "lr is the fine-tuned tower's learning rate: set freeze: false"),
    ("panns", {"cache_size": -1}, "cache_size"),
    ("panns", {"window_seconds": 0.5}, "window_seconds must be at least 0.64"),
    ("clap", {"ckpt_path": "x"}, "unknown key"),
])
def test_config_validation(name, fields, match):
    with pytest.raises(ConfigError, match=match):
        from_dict(ENCODERS.get(name).Config, fields)
