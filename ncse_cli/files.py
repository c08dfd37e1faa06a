"""Files that are either complete or absent: atomic writes that reach the disk, appended logs, one JSON reader.

Every file ncse writes (configs, manifests, WAVs, weights, scores, summaries) goes through :func:`atomic_output`:
the content is written to a hidden temporary file in the target's folder, flushed and ``fsync``-ed, renamed onto
the target (``os.replace``, atomic on POSIX), and the folder is ``fsync``-ed so that the rename itself survives a
crash. A reader therefore sees the old file or the complete new one, never a torn one, even after a power cut.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any, Iterator

from ncse_cli.errors import NcseError


class FileFormatError(NcseError, ValueError):
    """A file ncse wrote earlier that cannot be read back (not JSON, not an object); the message names it."""


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """A new empty file next to ``path`` for any writer (soundfile, safetensors, ...) to fill; when the block
    succeeds it is flushed to disk and renamed onto ``path``, else removed.

    The file is created with mode 0o666 less the umask, as ``open(path, "w")`` would, not mkstemp's 0o600:
    manifests, summaries and WAVs are meant to be read by others whenever the user's umask says so.
    An ``OSError`` about the temporary file (a folder that is not writable, a full disk) is raised naming
    ``path``, the file the user knows.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp = _create_sibling(path, suffix)
    except OSError as err:
        raise _naming(err, path) from None
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno is not None and str(err.filename) in ("None", str(tmp)):
            raise _naming(err, path) from None
        raise
    _fsync(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably (see :func:`atomic_output`)."""
    with atomic_output(Path(path)) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text to ``path`` atomically and durably."""
    atomic_write_bytes(path, text.encode("utf-8"))


def append_text(path: str | os.PathLike, text: str) -> None:
    """Append to a log file (``train_log.csv``, a journal) and close it at once, so a crash loses at most the line
    being written; an ``OSError`` without a file name (what a full disk gives) is raised naming ``path``."""
    path = Path(path)
    try:
        with path.open("a", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except OSError as err:
        if err.filename is not None or err.errno is None:
            raise
        raise _naming(err, path) from None


def write_json(path: str | os.PathLike, data: Any, indent: int | None = 2) -> None:
    """Write JSON atomically. ``allow_nan=False``: NaN must have become ``null`` before (strict JSON readers,
    such as browsers and ``jq``, refuse ``NaN``)."""
    atomic_write_text(path, json.dumps(data, indent=indent, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike, *, missing_ok: bool = False) -> dict[str, Any] | None:
    """The JSON object stored at ``path``.

    A missing file is ``None`` with ``missing_ok``, else a :class:`FileFormatError`; so is an unreadable file,
    invalid JSON or JSON that is not an object. Every error names the file.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if missing_ok:
            return None
        raise FileFormatError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FileFormatError(f"{path}: not a readable JSON file ({err})") from None
    if not isinstance(data, dict):
        raise FileFormatError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _naming(err: OSError, path: Path) -> OSError:
    """The same error about ``path`` (``OSError(errno, ...)`` is the subclass of that errno: PermissionError, ...)."""
    return OSError(err.errno, err.strerror, str(path))


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's entries') data to the disk. Writers such as soundfile and safetensors close
    their own handles, so the file is opened again; an fsync reaches the data whichever descriptor asks."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_sibling(path: Path, suffix: str) -> Path:
    """Create a uniquely named hidden file in ``path``'s folder with the mode the umask gives new files."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{suffix}")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o666))
        except FileExistsError:
            continue
        return tmp
