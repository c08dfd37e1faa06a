"""What the pre-trained noise encoders (``clap``, ``panns``) share: finding, reading and checking official
checkpoints, importing the towers' packages safely, fitting references to the tower's window, and the encoder
itself: a pre-trained tower (frozen or fine-tuned) followed by a trainable projection (the plan's Solution B,
noise_conditioning_plan.md Sec. 2.2 and A.3).

Where the tower's weights come from. A trained model must be rebuildable from its run directory alone:
``model_dir.load_model`` builds the model from ``config.yaml`` and then loads every weight, the tower's
included, from ``model.safetensors``. So building an encoder never requires the official checkpoint file:

* the architecture is built from the config alone;
* if the checkpoint is at hand (``ckpt`` when given, else the default locations, else a download when the
  caller allows it, ``ncse train --download-weights``, or the environment does, ``NCSE_ALLOW_DOWNLOAD=1``) its
  weights are loaded right away, so that everything built from the model afterwards (optimizer, EMA copies)
  sees the pre-trained tower;
* otherwise the tower keeps random weights and the encoder's ``pretrained`` buffer stays false. That buffer is
  saved with the model, so a model trained from the official weights reloads with it set. A tower still not
  pre-trained refuses to run in training mode, with a message saying where to get the file and where to put it,
  and logs a warning once in eval mode.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import math
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from torch import nn

from ncse_cli.audio import resample_tensor
from ncse_cli.conditioning import Condition, ConditionSpec
from ncse_cli.encoders.base import EncoderContext, NoiseEncoder
from ncse_cli.encoders.cache import EmbeddingCache, fingerprint
from ncse_cli.errors import NcseError
from ncse_cli.safeload import read_torch_checkpoint

log = logging.getLogger("ncse")

#: Set to 1 to let encoders download official checkpoints (and hub-aware packages reach the network).
DOWNLOAD_ENV = "NCSE_ALLOW_DOWNLOAD"


class PretrainedWeightsError(NcseError):
    """An official checkpoint that is missing, unreadable or does not fit the tower."""


class MissingPackageError(NcseError, ImportError):
    """An optional package an encoder needs is not installed; the message says how to install it."""


def downloads_allowed() -> bool:
    """True when the environment allows downloads (``NCSE_ALLOW_DOWNLOAD=1``)."""
    return os.environ.get(DOWNLOAD_ENV, "").strip().lower() in {"1", "true", "yes"}


def weights_dir() -> Path:
    """Where downloaded or hand-placed official checkpoints live: ``$NCSE_CACHE`` or ``~/.cache/ncse``."""
    if os.environ.get("NCSE_CACHE"):
        return Path(os.environ["NCSE_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "ncse"


def import_detached(package: str, module: str, subdir: str = "", install: str = "",
                    deferred: Mapping[str, Sequence[str]] | None = None) -> types.ModuleType:
    """Import ``<package>/<subdir>/<module>.py`` without executing the package's ``__init__``.

    Both tower packages do network or heavy work on import (``panns_inference`` runs ``wget`` for a label file;
    ``laion_clap`` imports transformers and its training stack). Their model modules only need their sibling
    modules, so they are loaded under a private alias package (``_ncse_<package>``) whose ``__path__`` points at
    the package's folder: relative imports resolve, the real package name stays untouched in ``sys.modules``.
    ``deferred`` names callables those modules import but only call later, if ever (:func:`deferred_imports`).
    """
    alias = "_ncse_" + "_".join(part for part in (package, subdir) if part)
    name = f"{alias}.{module}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(package)
    hint = f" ({install})" if install else ""
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackageError(f"the {package} package is not installed{hint}")
    if alias not in sys.modules:
        parent = types.ModuleType(alias)
        parent.__path__ = [os.path.join(location, subdir) for location in spec.submodule_search_locations]
        sys.modules[alias] = parent
    try:
        with deferred_imports(deferred or {}):
            return importlib.import_module(name)
    except ImportError as err:
        missing = err.name or str(err)
        if missing.split(".")[0] in {m.split(".")[0] for m in deferred or {}}:  # a stand-in lacks what it needs
            raise MissingPackageError(f"{package} imports {missing}, which ncse defers as "
                                      f"{sorted(deferred or {})}: the installed {package} is not the version "
                                      f"ncse knows ({err})") from None
        raise MissingPackageError(f"{package} needs {missing}, which is not installed{hint}") from None


@contextlib.contextmanager
def deferred_imports(names: Mapping[str, Sequence[str]]) -> Iterator[None]:
    """While active, ``from <module> import <name>`` of each of ``names``' modules binds a function that imports
    the module on its first call and calls the real ``<name>``. For names an upstream module imports at its top
    but only calls, if ever, in code ncse does not run: laion-clap's ``clap_module/utils.py`` imports
    ``torchvision.ops.misc.FrozenBatchNorm2d`` for a helper, and importing torchvision imports ``torch._dynamo``,
    2.9 s of every process that builds a CLAP tower. Only for names that are called: a deferred name is a function,
    not the class itself (no ``isinstance``, no subclassing).

    A module whose package is imported already is left alone (importing it is cheap then). The stand-in modules
    leave ``sys.modules`` on exit. Not thread-safe: another thread's import of those modules meanwhile gets them.
    """
    added: dict[str, types.ModuleType] = {}
    for module, attributes in names.items():
        parts = module.split(".")
        if parts[0] in sys.modules:
            continue
        for depth in range(1, len(parts) + 1):
            prefix = ".".join(parts[:depth])
            added[prefix] = sys.modules[prefix] = types.ModuleType(prefix, "(deferred by ncse)")
            if depth > 1:
                setattr(added[".".join(parts[:depth - 1])], parts[depth - 1], added[prefix])
        for attribute in attributes:
            setattr(added[module], attribute, _deferred(module, attribute))
    try:
        yield
    finally:
        for prefix, stand_in in added.items():
            if sys.modules.get(prefix) is stand_in:
                del sys.modules[prefix]


def _deferred(module: str, attribute: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        real = getattr(importlib.import_module(module), attribute)
        if real is call:
            raise ImportError(f"{module}.{attribute} was called while its import is deferred", name=module)
        return real(*args, **kwargs)
    call.__qualname__ = call.__name__ = attribute
    return call


def read_checkpoint(path: Path) -> Mapping[str, Any]:
    """The object in a checkpoint file, read without unpickling code: ``.safetensors`` or ``torch.load(
    weights_only=True)`` with numpy training state allowed (:func:`ncse_cli.safeload.read_torch_checkpoint`)."""
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as err:
            raise PretrainedWeightsError(f"{path}: not a readable safetensors file ({err})") from None
    obj = read_torch_checkpoint(path, error=PretrainedWeightsError,
                                hint="; if you trust the file, convert it once to .safetensors (README: Pre-trained "
                                     "noise encoders)")
    if not isinstance(obj, Mapping):
        raise PretrainedWeightsError(f"{path}: expected a dict of weights, found {type(obj).__name__}")
    return obj


def strip_prefix(state: Mapping[str, Any], prefix: str = "module.") -> dict[str, Any]:
    """Keys without a data-parallel ``module.`` prefix."""
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state.items()}


def _listing(names: Sequence[str], limit: int = 3) -> str:
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def load_exact(module: nn.Module, state: Mapping[str, torch.Tensor], source: str, hint: str = "") -> None:
    """Load ``state`` into ``module`` requiring exactly its keys and shapes; a mismatch names what differs."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if tuple(state[k].shape) != tuple(own[k].shape)]
    problems = [f"{what}: {_listing(names)}" for what, names in
                (("missing", missing), ("unexpected", unexpected), ("shape", shapes)) if names]
    if problems:
        raise PretrainedWeightsError(f"{source}: does not fit the tower ({'; '.join(problems)}){hint}")
    module.load_state_dict(state, strict=True)


@dataclass(frozen=True)
class OfficialWeights:
    """Where an official checkpoint comes from and where ncse looks for it."""

    what: str  #: e.g. "LAION-CLAP HTSAT-tiny"
    folder: str  #: sub-folder of :func:`weights_dir`
    filename: str
    url: str
    flag: str  #: the CLI option that passes a local file
    #: other places the upstream package keeps the same file (computed lazily: finding them may need imports)
    elsewhere: Callable[[], list[Path]] = list

    @property
    def default_path(self) -> Path:
        return weights_dir() / self.folder / self.filename

    def candidates(self) -> list[Path]:
        return [self.default_path, *self.elsewhere()]

    def missing_message(self, ckpt: str | None) -> str:
        """One line: which file is missing, where to download it and where to put it."""
        where = f"{ckpt} not found" if ckpt else "no checkpoint given and none at the default location"
        return (f"{self.what} weights: {where}. Download {self.filename} from {self.url} and put it at "
                f"{self.default_path} (or pass {self.flag} PATH; ncse train --download-weights or {DOWNLOAD_ENV}=1 "
                f"downloads it)")


@dataclass(frozen=True)
class PretrainedConfig:
    """The fields every pre-trained encoder's ``Config`` shares (the training CLI maps its flags onto them)."""

    #: official checkpoint file (``--clap-ckpt`` / ``--panns-ckpt``; ``.safetensors`` is read too);
    #: default: the encoder's file under ~/.cache/ncse (``$NCSE_CACHE``), downloaded when NCSE_ALLOW_DOWNLOAD=1
    ckpt: str | None = None
    freeze: bool = True  #: keep the tower fixed (``--freeze-encoder``) or fine-tune it (``--finetune-encoder``)
    lr: float | None = None  #: the tower's learning rate when fine-tuning (``--encoder-lr``; default: the model's)
    dim: int = 512  #: condition size after the trainable projection (Linear, SiLU, Linear)
    cache_size: int = 16384  #: frozen-tower embeddings kept on the CPU (0: no cache)

    def __post_init__(self) -> None:
        if self.dim < 1:
            raise ValueError(f"dim must be positive, got {self.dim}")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.lr is not None and self.freeze:
            raise ValueError("lr is the fine-tuned tower's learning rate: set freeze: false "
                             "(--finetune-encoder) or drop it")
        if self.cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {self.cache_size}")


def resolve_checkpoint(weights: OfficialWeights, ckpt: str | None, download: bool = False) -> Path | None:
    """The checkpoint file to load now, or ``None`` when it is not at hand (see the module docstring)."""
    if ckpt:
        path = Path(ckpt).expanduser()
        return path if path.is_file() else None
    for path in weights.candidates():
        if path.is_file() and path.stat().st_size > 0:  # upstream's offline wget leaves empty files behind
            return path
    if not (download or downloads_allowed()):
        return None
    path = weights.default_path
    path.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s to %s", weights.url, path)
    try:
        torch.hub.download_url_to_file(weights.url, str(path), progress=True)  # temporary file, then rename
    except Exception as err:  # noqa: BLE001  (urllib raises many kinds; all mean "not downloaded")
        raise PretrainedWeightsError(f"could not download {weights.url} ({err}); "
                                     f"{weights.missing_message(None)}") from None
    return path


#: How many :func:`without_initialisation` blocks are active (they nest).
_SKIPPING = [0]


@contextlib.contextmanager
def without_initialisation(*owners: types.ModuleType) -> Iterator[None]:
    """Build modules whose every weight is overwritten right after, without drawing their random initialisation:
    while active, every ``torch.nn.init`` function (which ``reset_parameters`` of the standard layers and the
    towers' own ``init_layer`` call) zero-fills instead, and so does every public ``*_`` function of ``owners``
    (a package's own initialisers: see :func:`own_initialisers_skipped`). Drawing PANNs Cnn14's 82 M initial
    weights takes about 1.3 s on one CPU thread, four times longer than building the tower without them. Zeros
    keep a mistake (a weight that is then not loaded) deterministic. The same idea as ``no_init_weights`` in HF
    transformers. Not thread-safe: it swaps module attributes."""
    saved = [(owner, name, getattr(owner, name)) for owner in (nn.init, *owners) for name in dir(owner)
             if name.endswith("_") and not name.startswith("_") and callable(getattr(owner, name))]

    def zeros(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        with torch.no_grad():
            return tensor.zero_()

    for owner, name, _ in saved:
        setattr(owner, name, zeros)
    _SKIPPING[0] += 1
    try:
        yield
    finally:
        _SKIPPING[0] -= 1
        for owner, name, fn in saved:
            setattr(owner, name, fn)


def own_initialisers_skipped(*owners: types.ModuleType) -> contextlib.AbstractContextManager:
    """For a tower whose package draws weights with its own init functions (HTS-AT's ``trunc_normal_``, 0.25 s a
    build): inside :func:`without_initialisation`, those of ``owners`` zero-fill too; outside it, nothing."""
    return without_initialisation(*owners) if _SKIPPING[0] else contextlib.nullcontext()


def valid_lengths(ref: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """``lengths`` as a checked int64 tensor (all of ``ref`` when ``None``)."""
    if lengths is None:
        return torch.full((ref.shape[0],), ref.shape[-1], dtype=torch.long, device=ref.device)
    lengths = lengths.to(device=ref.device, dtype=torch.long)
    if lengths.shape != ref.shape[:1] or bool((lengths < 1).any()) or bool((lengths > ref.shape[-1]).any()):
        raise ValueError(f"reference lengths {lengths.tolist()} do not fit references of shape {tuple(ref.shape)}")
    return lengths


def resampled_lengths(lengths: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Valid samples after resampling: ``ceil(n * new / orig)``, torchaudio's output length."""
    g = math.gcd(orig_rate, new_rate)
    up, down = new_rate // g, orig_rate // g
    return (lengths * up + down - 1) // down


def fit_window(wave: torch.Tensor, lengths: torch.Tensor, window: int) -> torch.Tensor:
    """Fit each row's valid samples to exactly ``window`` samples, deterministically: ``[B, L] -> [B, window]``.

    Shorter rows are repeat-padded as LAION-CLAP's ``repeatpad`` does (as many whole copies as fit, then
    zeros); longer rows keep their centre ``window`` samples (CLAP crops at random, which would make the
    embedding of a reference vary between calls).
    """
    pos = torch.arange(window, device=wave.device)[None, :]
    n = lengths.to(wave.device)[:, None]
    long = n >= window
    index = torch.where(long, (n - window) // 2 + pos, pos % n)
    keep = long | (pos < (window // n) * n)
    return wave.gather(1, index) * keep.to(wave.dtype)


class PretrainedEncoder(NoiseEncoder):
    """A pre-trained tower, frozen or fine-tuned, and a trainable projection (Linear, SiLU, Linear) to ``dim``.

    ``forward`` resamples the reference from the model rate to the tower's rate, fits it to the tower's window
    (:func:`fit_window`), runs the tower and projects. A frozen tower stays in eval mode (also inside a model
    in train mode), gets no gradients, stays out of the optimizer and caches its embeddings by reference key;
    a fine-tuned tower trains with the model, at ``cfg.lr`` when set.

    Subclasses set :attr:`weights` and pass ``build_tower``, which returns a module with ``dim``, ``sample_rate``,
    ``window``, ``forward(wave [B, window]) -> [B, dim]``, ``trainable_parameters()`` and
    ``load_official(obj, source)``. When the tower's weights are about to be overwritten (by the official file, or
    by the model directory when ``ctx.load_pretrained`` is off), it is built :func:`without_initialisation`. Either
    way it is built with the random stream set aside, so the projection starts alike.
    """

    weights: OfficialWeights

    def __init__(self, cfg: PretrainedConfig, ctx: EncoderContext, build_tower: Callable[[], nn.Module]) -> None:
        super().__init__()
        self.cfg = cfg
        self.model_rate = ctx.sample_rate
        path = resolve_checkpoint(self.weights, cfg.ckpt, ctx.download) if ctx.load_pretrained else None
        overwritten = path is not None or not ctx.load_pretrained
        with torch.random.fork_rng(devices=[]), \
                (without_initialisation() if overwritten else contextlib.nullcontext()):
            self.tower = tower = build_tower()
        self.projection = nn.Sequential(nn.Linear(tower.dim, cfg.dim), nn.SiLU(), nn.Linear(cfg.dim, cfg.dim))
        self.spec = ConditionSpec(vector_dim=cfg.dim)
        self.cache = EmbeddingCache(cfg.cache_size if cfg.freeze else 0)
        self.register_buffer("pretrained", torch.tensor(False))
        self.register_load_state_dict_post_hook(lambda module, incompatible: module.cache.clear())
        self._warned = False
        if path is not None:
            self.load_pretrained(path)
        self._apply_freeze()

    @property
    def frozen(self) -> bool:
        return self.cfg.freeze

    def _apply_freeze(self) -> None:
        self.tower.requires_grad_(False)
        if not self.frozen:
            for param in self.tower.trainable_parameters():
                param.requires_grad_(True)
        self.train(self.training)

    def load_pretrained(self, path: str | os.PathLike) -> None:
        """Load the tower from an official checkpoint file (the layout the upstream package publishes)."""
        path = Path(path)
        self.tower.load_official(read_checkpoint(path), str(path))
        self.pretrained.fill_(True)
        self.cache.clear()
        log.debug("%s tower loaded from %s", self.weights.what, path)

    def require_pretrained(self) -> None:
        """Raise the 'where to get the weights' error unless the tower holds pre-trained weights."""
        if not bool(self.pretrained):
            raise PretrainedWeightsError(self.weights.missing_message(self.cfg.ckpt))

    def check_trainable(self) -> None:
        """A tower without pre-trained weights cannot be trained: :meth:`require_pretrained`."""
        self.require_pretrained()

    def train(self, mode: bool = True) -> "PretrainedEncoder":
        super().train(mode)
        if self.frozen:
            self.tower.eval()  # no dropout, SpecAugment or batch-norm updates in a frozen tower
        return self

    def parameter_groups(self, lr: float) -> list[dict]:
        """The projection at ``lr``; a fine-tuned tower at ``cfg.lr`` (default ``lr``); a frozen one not at all."""
        groups = [{"params": list(self.projection.parameters()), "lr": lr}]
        if not self.frozen:
            tower_lr = self.cfg.lr if self.cfg.lr is not None else lr
            groups.append({"params": list(self.tower.trainable_parameters()), "lr": tower_lr})
        return groups

    def forward(self, ref: torch.Tensor, lengths: torch.Tensor | None = None,
                keys: Sequence[str] | None = None) -> Condition:
        if self.training:
            self.require_pretrained()
        elif not self._warned and not bool(self.pretrained):
            self._warned = True
            log.warning("the %s tower has random weights: %s", self.weights.what,
                        self.weights.missing_message(self.cfg.ckpt))
        return Condition(vector=self.projection(self.embed(ref, lengths, keys)))

    def embed(self, ref: torch.Tensor, lengths: torch.Tensor | None = None,
              keys: Sequence[str] | None = None) -> torch.Tensor:
        """The tower's embeddings ``[B, tower.dim]`` (before the projection), from the cache where possible."""
        lengths = valid_lengths(ref, lengths)
        if keys is None or not self.frozen or not self.cache.capacity:
            return self.run_tower(ref, lengths)
        if len(keys) != ref.shape[0]:
            raise ValueError(f"{len(keys)} reference keys for a batch of {ref.shape[0]}")
        prints = fingerprint(ref, lengths)
        found = self.cache.lookup(keys, prints)
        todo = [i for i, emb in enumerate(found) if emb is None]
        if todo:
            rows = torch.tensor(todo, device=ref.device)
            fresh = self.run_tower(ref[rows], lengths[rows])
            for j, i in enumerate(todo):
                found[i] = fresh[j]
                self.cache.store(keys[i], prints[i], fresh[j])
        out = torch.stack([emb.to(ref.device) for emb in found])
        return out.clone() if out.is_inference() and not torch.is_inference_mode_enabled() else out

    def run_tower(self, ref: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Resample, fit the window and run the tower (without autograd when frozen)."""
        rate = self.tower.sample_rate
        with _no_float16(ref.device.type):
            wave = resample_tensor(ref.to(self.projection[0].weight.dtype), self.model_rate, rate)
            wave = fit_window(wave, resampled_lengths(lengths, self.model_rate, rate).clamp_max(wave.shape[-1]),
                              self.tower.window)
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
                return self.tower(wave)


def _no_float16(device_type: str) -> contextlib.AbstractContextManager:
    """Autocast off where it would run in float16 (resampling and tower): both towers' torchlibrosa log-mel front
    ends then flush quiet and zero-padded (:func:`fit_window`) bins to 0, and their floor of 1e-10 is 0 in float16
    as well, so ``log10`` gives -inf and the embedding NaN. bfloat16 has float32's range and stays on."""
    if torch.is_autocast_enabled(device_type) and torch.get_autocast_dtype(device_type) == torch.float16:
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()
