"""What every corpus indexer shares: the error type, the registry of noise corpora, and checked readers for the
folders and CSV tables of official corpus layouts (each error names the file and what is wrong)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from ncse_cli.data.noise import NoiseClip
from ncse_cli.errors import NcseError
from ncse_cli.registry import Registry

#: ``index(root, categories, folds) -> clips``; empty ``categories``/``folds`` select everything.
IndexFn = Callable[[Path | None, Sequence[str], Sequence[str]], list[NoiseClip]]

#: Noise corpora by name: esc50, urbansound8k, wham, demand, audioset, synthetic.
NOISE_CORPORA: Registry[IndexFn] = Registry("noise corpus")


class CorpusError(NcseError, ValueError):
    """A corpus tree or metadata file that does not match its official layout."""


def require_dir(path: str | os.PathLike | None, what: str) -> Path:
    """``path`` as a Path, which must be an existing folder."""
    if path is None:
        raise CorpusError(f"{what}: no folder given")
    path = Path(path).expanduser()
    if not path.is_dir():
        raise CorpusError(f"{path}: {what} folder not found")
    return path


def read_table(path: Path, columns: Sequence[str], what: str) -> pd.DataFrame:
    """Read a CSV metadata file, checking it exists, parses, has ``columns`` and at least one row.

    Line numbers in later errors count the header as line 1, like an editor does.
    """
    if not path.is_file():
        raise CorpusError(f"{path}: {what} metadata file not found")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CorpusError(f"{path}: not a valid CSV file ({reason})") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise CorpusError(f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                          f"(found: {', '.join(table.columns)})")
    if table.empty:
        raise CorpusError(f"{path}: no rows")
    return table


def int_column(table: pd.DataFrame, column: str, path: Path, low: int, high: int) -> list[int]:
    """The values of ``column`` as ints in ``[low, high]``; the first bad one raises naming its line."""
    values = []
    for line, raw in enumerate(table[column], start=2):
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise CorpusError(f"{path}:{line}: column {column} must be an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise CorpusError(f"{path}:{line}: column {column} must be in {low}..{high}, got {value}")
        values.append(value)
    return values


def text_column(table: pd.DataFrame, column: str, path: Path) -> list[str]:
    """The values of ``column`` as stripped strings; an empty one raises naming its line."""
    values = [str(v).strip() for v in table[column]]
    for line, value in enumerate(values, start=2):
        if not value:
            raise CorpusError(f"{path}:{line}: column {column} is empty")
    return values


def parse_folds(folds: Sequence[str | int], low: int, high: int, what: str) -> set[int]:
    """Fold selectors (``"1"``, ``1``, ``"fold1"``) as ints in ``[low, high]``; empty means all."""
    chosen = set()
    for fold in folds:
        text = str(fold).strip().lower().removeprefix("fold")
        if not text.isdigit() or not low <= int(text) <= high:
            raise CorpusError(f"{what}: fold {fold!r} is not one of {low}..{high}")
        chosen.add(int(text))
    return chosen or set(range(low, high + 1))


def check_selection(requested: Sequence[str], known: Sequence[str], what: str) -> set[str]:
    """The requested names (all when empty), each of which must be known."""
    unknown = sorted(set(requested) - set(known))
    if unknown:
        raise CorpusError(f"{what}: unknown {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}")
    return set(requested) or set(known)


def check_files(paths: Sequence[Path], listed_in: Path) -> None:
    """Every path must be a file; otherwise name the first missing one and how many are missing."""
    missing = [p for p in paths if not p.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CorpusError(f"{missing[0]}: audio file listed in {listed_in} not found{more}")


@dataclass(frozen=True)
class TableLayout:
    """A corpus described by one CSV (ESC-50, UrbanSound8K): where the table is, which columns name the file,
    label, label id and fold, and where a listed file lives (``locate(root, filename, fold)``)."""

    corpus: str
    title: str
    table: str
    columns: tuple[str, ...]
    file_column: str
    label_column: str
    label_id: tuple[str, int]  # column of the numeric label id and its largest value
    num_folds: int
    locate: Callable[[Path, str, int], Path]


def index_table(layout: TableLayout, root: Path | None, categories: Sequence[str],
                folds: Sequence[str]) -> list[NoiseClip]:
    """Clips of a CSV-described corpus, restricted to ``categories`` (labels) and ``folds``; empty means all.
    Checks the table (columns, integer folds and label ids, unique files) and that each selected file exists."""
    root = require_dir(root, layout.title)
    csv = root / layout.table
    table = read_table(csv, layout.columns, layout.title)
    names = text_column(table, layout.file_column, csv)
    labels = text_column(table, layout.label_column, csv)
    fold_of = int_column(table, "fold", csv, 1, layout.num_folds)
    int_column(table, layout.label_id[0], csv, 0, layout.label_id[1])
    _check_unique(names, csv)
    chosen = check_selection(categories, sorted(set(labels)), f"{csv}: {layout.label_column}")
    wanted = parse_folds(folds, 1, layout.num_folds, str(csv))
    rows = [(n, c, f) for n, c, f in zip(names, labels, fold_of) if c in chosen and f in wanted]
    if not rows:
        raise CorpusError(f"{csv}: no clips with {layout.label_column} in {sorted(chosen)} and folds {sorted(wanted)}")
    paths = [layout.locate(root, name, fold) for name, _, fold in rows]
    check_files(paths, csv)
    return [NoiseClip(str(p), layout.corpus, c, str(f)) for p, (_, c, f) in zip(paths, rows)]


def _check_unique(names: list[str], csv: Path) -> None:
    seen: set[str] = set()
    for line, name in enumerate(names, start=2):
        if name in seen:
            raise CorpusError(f"{csv}:{line}: file {name} is listed twice")
        seen.add(name)


def index_noise(corpus: str, root: str | os.PathLike | None, categories: Sequence[str] = (),
                folds: Sequence[str | int] = ()) -> list[NoiseClip]:
    """The clips of a registered noise corpus under ``root``, restricted to ``categories`` and ``folds``."""
    return NOISE_CORPORA.get(corpus)(None if root is None else Path(root), list(categories),
                                     [str(f) for f in folds])
