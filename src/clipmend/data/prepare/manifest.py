"""The manifest of a prepared tree: one line per file (path under the root, size, mtime, SHA-256).

Each class folder's lines are written (as a fragment under ``ROOT/.manifest/``) before the
folder is renamed into place; the fragments are merged into ``ROOT/MANIFEST.tsv``. The
cheap check compares size and mtime of every listed file (a stat each); the full check
hashes them again. Either finds a truncated or edited image before it is indexed.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from clipmend.io import write_with

MANIFEST = "MANIFEST.tsv"
FIELDS = ("file", "size", "mtime_ns", "sha256")
CHECKS = ("quick", "full", "none")
REPAIR = ("re-extract what differs with `snakemake prepare --forcerun prepare_imagenet_train "
          "prepare_imagenet_val prepare_unpack` (folders that match their manifest are kept)")


@dataclass(frozen=True)
class Entry:
    """One file of a prepared tree."""

    file: str  # path under the tree's root, with /
    size: int
    mtime_ns: int
    sha256: str


def entry_of(root: Path, path: Path, sha256: str) -> Entry:
    """The manifest entry of ``path`` (under ``root``) whose content hashed to ``sha256``."""
    stat = path.stat()
    return Entry(path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns, sha256)


def write_entries(path: str | Path, entries: Iterable[Entry]) -> None:
    """Write entries as a tab-separated file with a header, atomically."""

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            out = csv.writer(f, delimiter="\t", lineterminator="\n")
            out.writerow(FIELDS)
            out.writerows((e.file, e.size, e.mtime_ns, e.sha256) for e in entries)

    write_with(path, write)


def read_entries(path: str | Path) -> list[Entry]:
    """Entries of a manifest or fragment; a malformed one raises ValueError naming it."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    if not rows or tuple(rows[0]) != FIELDS:
        raise ValueError(f"{path} is not a manifest: its header is {rows[:1]}, expected {list(FIELDS)}")
    try:
        return [Entry(r[0], int(r[1]), int(r[2]), r[3]) for r in rows[1:]]
    except (IndexError, ValueError) as err:
        raise ValueError(f"{path}: malformed manifest line ({err}); delete it and re-run prepare") from None


def merge(parts: Sequence[str | Path], out: str | Path) -> list[Entry]:
    """Merge manifests ``parts`` into ``out`` (sorted by file); a file listed twice is an error."""
    entries = sorted((e for p in parts for e in read_entries(p)), key=lambda e: e.file)
    dup = [a.file for a, b in zip(entries, entries[1:]) if a.file == b.file]
    if dup:
        raise ValueError(f"files listed twice in {len(parts)} manifests, e.g. {dup[:3]}")
    write_entries(out, entries)
    return entries


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def differences(root: str | Path, entries: Iterable[Entry], full: bool = False) -> list[str]:
    """What differs between the files under ``root`` and ``entries``: one phrase per file.

    Quick: a missing file, or a size or mtime unlike the manifest's. ``full``: also the SHA-256.
    """
    root = Path(root)
    found = []
    for e in entries:
        path = root / e.file
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            found.append(f"{e.file} (missing)")
            continue
        if stat.st_size != e.size:
            found.append(f"{e.file} (size {stat.st_size}, manifest {e.size})")
        elif stat.st_mtime_ns != e.mtime_ns and not full:
            found.append(f"{e.file} (modified after it was prepared)")
        elif full and sha256_file(path) != e.sha256:
            found.append(f"{e.file} (sha256 differs from the manifest)")
    return found


def check_tree(root: str | Path, check: str = "quick") -> int:
    """Check the prepared tree ``root`` against its ``MANIFEST.tsv``; return the files checked.

    ``check``: quick (size and mtime), full (size and SHA-256) or none. A difference raises
    ValueError naming the first files that differ and how to repair them.
    """
    if check not in CHECKS:
        raise ValueError(f"manifest check {check!r} unknown; valid: {list(CHECKS)}")
    if check == "none":
        return 0
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: {root} was not prepared by `snakemake prepare`")
    entries = read_entries(path)
    bad = differences(root, entries, full=check == "full")
    if bad:
        raise ValueError(f"{len(bad)} of {len(entries)} files under {root} differ from {path}: "
                         f"{'; '.join(bad[:3])}; {REPAIR}")
    return len(entries)
