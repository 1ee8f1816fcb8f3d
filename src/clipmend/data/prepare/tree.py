"""Writing a prepared tree one folder at a time: staged, hashed, renamed into place.

A folder (an ImageNet class, a Waterbirds species, CIFAR's batch folder) is written under
``ROOT/.partial/``, its manifest fragment is written under ``ROOT/.manifest/``, and then
the folder is renamed to its place: the tree holds whole folders only. A re-run skips
folders whose fragment exists and whose files still match it, and redoes the rest, so
preparation resumes after a kill and needs no more disk than the tree plus the folders
being staged (one per running job).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

from clipmend.data.prepare.manifest import Entry, differences, entry_of, read_entries, write_entries

log = logging.getLogger(__name__)

PARTIAL = ".partial"
FRAGMENTS = ".manifest"


def safe_name(name: str, where: str) -> str:
    """``name`` if it is a plain file or folder name, else a ValueError naming ``where``."""
    if not name or name in (".", "..") or name.startswith(".") or any(c in name for c in "/\\\t\n\r\0"):
        raise ValueError(f"{where}: unsafe member name {name!r}; expected a plain file name")
    return name


class Folder:
    """One folder ``ROOT/SPLIT/NAME`` of a prepared tree (``SPLIT`` may be empty)."""

    def __init__(self, root: str | Path, split: str, name: str) -> None:
        self.root = Path(root)
        self.name = safe_name(name, f"{root}/{split}")
        rel = Path(split, name)
        self.final = self.root / rel
        self.partial = self.root / PARTIAL / rel
        self.fragment = (self.root / FRAGMENTS / rel).with_name(f"{name}.tsv")
        self.entries: list[Entry] = []

    def is_done(self) -> bool:
        """True if the folder is in place and its files match its fragment (size and mtime)."""
        if not (self.fragment.is_file() and self.final.is_dir()):
            return False
        bad = differences(self.root, read_entries(self.fragment))
        if bad:
            log.warning("%s differs from its manifest (%s): preparing it again", self.final, "; ".join(bad[:3]))
        return not bad

    def start(self) -> Folder:
        """Begin staging (a stale staging folder of a killed run is removed)."""
        shutil.rmtree(self.partial, ignore_errors=True)
        self.partial.mkdir(parents=True)
        self.entries = []
        return self

    def add(self, name: str, data: bytes) -> None:
        """Stage file ``name`` with content ``data``."""
        path = self.partial / safe_name(name, str(self.final))
        with open(path, "xb") as f:
            f.write(data)
        self.entries.append(self._entry(path, hashlib.sha256(data).hexdigest()))

    def add_file(self, name: str, source: Path) -> None:
        """Stage file ``name`` as a hard link to ``source`` (a copy across file systems)."""
        path = self.partial / safe_name(name, str(self.final))
        try:
            os.link(source, path)
        except OSError:
            shutil.copy2(source, path)
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        self.entries.append(self._entry(path, h.hexdigest()))

    def _entry(self, path: Path, sha256: str) -> Entry:
        return entry_of(self.root / PARTIAL, path, sha256)  # its path under .partial is its path in the tree

    def commit(self) -> list[Entry]:
        """Write the fragment, then rename the staged folder into place; return its entries."""
        write_entries(self.fragment, self.entries)
        if self.final.exists():  # an earlier, damaged copy
            shutil.rmtree(self.final)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.partial, self.final)
        return self.entries


def commit_file(root: str | Path, name: str, data: bytes) -> list[Entry]:
    """Write file ``ROOT/NAME`` atomically with its own fragment (a tree's top-level file)."""
    root = Path(root)
    path = root / safe_name(name, str(root))
    fragment = root / FRAGMENTS / f"{name}.tsv"
    staged = root / PARTIAL / name
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.write_bytes(data)
    entry = entry_of(root / PARTIAL, staged, hashlib.sha256(data).hexdigest())
    write_entries(fragment, [entry])
    os.replace(staged, path)
    return [entry]


def file_done(root: str | Path, name: str) -> bool:
    """True if top-level file ``name`` was committed and still matches its fragment."""
    fragment = Path(root) / FRAGMENTS / f"{name}.tsv"
    return fragment.is_file() and not differences(root, read_entries(fragment))


def clean_partial(root: str | Path) -> None:
    """Remove the staging area once every folder is in place."""
    shutil.rmtree(Path(root) / PARTIAL, ignore_errors=True)
