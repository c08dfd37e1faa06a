"""Reading third-party PyTorch checkpoints without running pickled code.

``torch.load(weights_only=True)`` rebuilds tensors, containers and primitives and refuses every other global the
pickle names. Two kinds of third-party files need a little more, and get exactly that much:

* numpy arrays and scalars (training state in official encoder checkpoints): their reconstructors are data-only
  and allowed (:data:`NUMPY_DATA_GLOBALS`);
* class references (a PyTorch Lightning checkpoint's ``hyper_parameters`` name the data-module class): with
  ``references=True`` each such global is replaced by a placeholder that records its name, becomes a
  :class:`ClassReference` in the result, and refuses to be called or instantiated. The class itself is never
  imported; a pickle that calls it, or that calls any other function, is refused with one line naming it.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ncse_cli.errors import NcseError

#: numpy's array and scalar reconstructors: data only.
NUMPY_DATA_GLOBALS = [np.core.multiarray._reconstruct, np.ndarray, np.dtype, np.core.multiarray.scalar,
                      *{type(np.dtype(t)) for t in ("b1", "i1", "u1", "i2", "i4", "i8", "u8", "f2", "f4", "f8")}]
_NUMPY_NAMES = {f"{g.__module__}.{g.__qualname__}" for g in NUMPY_DATA_GLOBALS}


@dataclass(frozen=True)
class ClassReference:
    """A class or function a checkpoint names (e.g. ``sgmse.data_module.SpecsDataModule``), never imported."""

    qualified_name: str


class _Placeholder:
    """Base of the stand-ins handed to the unpickler for referenced globals."""

    qualified_name = ""


def _placeholders(names: list[str], refused: list[str]) -> list[tuple[type, str]]:
    def stand_in(name: str) -> type:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            refused.append(name)
            raise pickle.UnpicklingError(f"refusing to call {name}")
        return type(name.rsplit(".", 1)[-1], (_Placeholder,), {"qualified_name": name,
                                                               "__new__": staticmethod(refuse)})
    return [(stand_in(name), name) for name in names]


def _resolve(obj: Any) -> Any:
    """Placeholders (classes) anywhere in containers become :class:`ClassReference` values."""
    if isinstance(obj, type) and issubclass(obj, _Placeholder):
        return ClassReference(obj.qualified_name)
    if isinstance(obj, dict):
        return type(obj)((key, _resolve(value)) for key, value in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(value) for value in obj)
    return obj


def read_torch_checkpoint(path: str | Path, *, error: type[NcseError] = NcseError, references: bool = False,
                          hint: str = "") -> Any:
    """The object in a ``torch.save`` file, read as described in the module docstring.

    Every failure is one ``error`` naming ``path``: unreadable files, and pickles that would run code (the
    message names the global; ``hint`` is appended, e.g. how to convert a trusted file).
    """
    path = Path(path)
    refused: list[str] = []
    allowed: list = list(NUMPY_DATA_GLOBALS)
    try:
        if references:
            names = [n for n in torch.serialization.get_unsafe_globals_in_checkpoint(path) if n not in _NUMPY_NAMES]
            allowed += _placeholders(names, refused)
        with torch.serialization.safe_globals(allowed):
            try:
                obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as err:
                if "mmap" not in str(err):
                    raise
                obj = torch.load(path, map_location="cpu", weights_only=True)  # legacy (pre-zip) format
    except pickle.UnpicklingError as err:
        name = refused[0] if refused else _unsupported_global(str(err))
        if name is None:
            raise error(f"{path}: not a readable PyTorch checkpoint") from None
        raise error(f"{path}: holds more than weights ({name}) and is refused, since loading it would run "
                    f"pickled code{hint}") from None
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise error(f"{path}: not a readable PyTorch checkpoint ({err})") from None
    return _resolve(obj) if references else obj


def _unsupported_global(message: str) -> str | None:
    """The global torch's weights-only unpickler refused ("Unsupported global: GLOBAL x.y was not an allowed
    global", "unsupported GLOBAL posix.system whose module posix is blocked")."""
    found = re.search(r"GLOBAL ([\w.]+)", message)
    return found.group(1) if found else None
