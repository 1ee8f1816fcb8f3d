"""Atomic writes (an output exists whole or not at all) and the readers the steps share."""

import errno
import json
import os
import pickle
import re
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

STALE_AFTER_S = 600.0  # a temporary file or claim of another host's job older than this is abandoned
# ".NAME.PID@HOST.RANDOM.tmp": the writer's process and host, so a later job can tell a dead
# writer's leftovers (a kill, a cancelled or timed-out SLURM job) from a live writer's file
TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)@(?P<host>.+)\.[^.]+\.tmp$")
# fault tests: a job stops itself (SIGSTOP) right after it writes the path ending in this value,
# so a kill lands exactly between two of its outputs (tests/faults/test_kill_rules.py)
STOP_AFTER_WRITE = "CLIPMEND_FAULT_STOP_AFTER_WRITE"


def owner_tag() -> str:
    """``PID@HOST`` of this process: what temporary files and claims record of their writer."""
    return f"{os.getpid()}@{socket.gethostname()}"


def owner_gone(pid: int, host: str, age_s: float) -> bool:
    """Whether the writer ``pid`` on ``host`` of a file ``age_s`` old is gone.

    On this host the process table says; another host's file counts as abandoned once it is
    older than ``STALE_AFTER_S`` (its node may be dead; a live job refreshes nothing there).
    """
    if host != socket.gethostname():
        return age_s > STALE_AFTER_S
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def sweep_stale(directory: str | Path, name: str | None = None) -> list[Path]:
    """Delete the temporary files in ``directory`` (of target ``name`` only, if given) whose
    writer is gone; return them. A live writer's files, on any host, are left alone."""
    directory = Path(directory)
    prefix = f".{name}." if name is not None else "."
    swept = []
    try:
        entries = [e for e in os.scandir(directory) if e.name.startswith(prefix) and e.name.endswith(".tmp")]
    except FileNotFoundError:
        return swept
    now = time.time()
    for entry in entries:
        match = TEMPORARY.match(entry.name)
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except FileNotFoundError:  # renamed or removed by its writer meanwhile
            continue
        if match is None:
            stale = age > STALE_AFTER_S  # an untagged leftover of an older version
        elif name is not None and match["name"] != name:
            continue  # another target whose name starts like this one
        else:
            stale = owner_gone(int(match["pid"]), match["host"], age)
        if stale:
            Path(entry.path).unlink(missing_ok=True)
            swept.append(Path(entry.path))
    return swept


def file_mode() -> int:
    """The mode a normal new file gets under this process's umask now (0o644 under umask 022)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no /proc: read by setting it (not thread-safe; Linux always has /proc)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | Path, sweep: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only on success.

    The file gets the mode the umask gives a normal file (mkstemp's is private). With
    ``sweep``, a dead writer's temporary files of the same target are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if sweep:
        sweep_stale(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{owner_tag()}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, file_mode())
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
        stop_after = os.environ.get(STOP_AFTER_WRITE)
        if stop_after and str(path).endswith(stop_after):
            os.kill(os.getpid(), signal.SIGSTOP)
    except Exception as err:
        if _out_of_space(err, path.parent):
            raise OSError(errno.ENOSPC, f"No space left on device while writing {path} "
                          f"({shutil.disk_usage(path.parent).free} bytes free there); nothing "
                          "of it was kept: free some space and re-run") from err
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


LOW_SPACE_BYTES = 1 << 20


def _out_of_space(err: BaseException, directory: Path) -> bool:
    """True if a failed write met a full file system: ENOSPC/EDQUOT, or under 1 MiB left now.

    torch and pyarrow report a full disk in their own words ("unexpected pos ..."), so the
    free space decides where no errno says it.
    """
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        cause = cause.__cause__ or cause.__context__
    try:
        return shutil.disk_usage(directory).free < LOW_SPACE_BYTES
    except OSError:
        return False


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
    """Save a torch object atomically (the same object gives the same bytes)."""
    import torch

    def save(tmp: Path) -> None:
        with tmp.open("wb") as f:  # a path would name the zip's folder after the random tmp name
            torch.save(obj, f)

    write_with(path, save)


class CorruptFileError(RuntimeError):
    """A file that exists but cannot be parsed: truncated or corrupt."""


REGENERATE = "re-run snakemake with `--forcerun {path}` to make it again"


@contextmanager
def reading(path: str | Path, fix: str = REGENERATE) -> Iterator[None]:
    """Turn a parse failure inside the block into a ``CorruptFileError`` naming ``path`` and ``fix``.

    ``fix`` may name ``{path}``. Deleting a damaged intermediate is not enough: Snakemake
    does not remake a missing file whose consumers' outputs exist.
    """
    try:
        yield
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (OSError, ValueError, EOFError, RuntimeError, pickle.UnpicklingError) as err:
        raise CorruptFileError(
            f"{path} is truncated or corrupt ({type(err).__name__}: {err}); {fix.format(path=path)}"
        ) from err


def read_parquet(path: str | Path, **kwargs: Any) -> pd.DataFrame:
    """Read a parquet file; a truncated or corrupt one raises ``CorruptFileError`` naming it."""
    with reading(path):
        return pd.read_parquet(path, **kwargs)


def read_torch(path: str | Path, **kwargs: Any) -> Any:
    """``torch.load`` a file; a truncated or corrupt one raises ``CorruptFileError`` naming it."""
    import torch

    with reading(path):
        return torch.load(path, **kwargs)


def read_json(path: str | Path) -> Any:
    """Read a JSON file (a data set's ``classes.json``, ``backgrounds.json``)."""
    return json.loads(Path(path).read_text())


def read_csvs(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Read CSV files with the same columns into one table, rows in file order."""
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
