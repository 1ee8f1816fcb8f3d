"""Atomic writes (an output exists whole or not at all) and the readers the steps share."""

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_with(path: str | Path, writer: Callable[[Path], Any]) -> None:
    """Call ``writer(tmp_path)`` and atomically move the result to ``path``."""
    with atomic_path(path) as tmp:
        writer(tmp)


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    """Write a data frame to parquet atomically."""
    write_with(path, lambda tmp: df.to_parquet(tmp, index=False))


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    """Write a data frame to csv atomically."""
    write_with(path, lambda tmp: df.to_csv(tmp, index=False))


def write_json(obj: Any, path: str | Path) -> None:
    """Write JSON atomically (sorted keys, indented, trailing newline)."""
    write_with(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n"))


def write_torch(obj: Any, path: str | Path) -> None:
    """Save a torch object atomically."""
    import torch

    write_with(path, lambda tmp: torch.save(obj, tmp))


def read_json(path: str | Path) -> Any:
    """Read a JSON file (a data set's ``classes.json``, ``backgrounds.json``)."""
    return json.loads(Path(path).read_text())


def read_csvs(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Read CSV files with the same columns into one table, rows in file order."""
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
