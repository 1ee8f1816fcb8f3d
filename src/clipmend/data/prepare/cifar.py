"""CIFAR-10 and CIFAR-100 from the official python tarballs into ``root/<batches folder>/``."""

from __future__ import annotations

from pathlib import Path

from clipmend.data.prepare.archives import ArchiveError, unpack_grouped
from clipmend.data.prepare.manifest import Entry


def prepare_cifar(kind: str, archive: str | Path, root: str | Path) -> list[Entry]:
    """Unpack ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz``; check every batch is there."""
    from clipmend.data.cifar import LAYOUTS

    layout = LAYOUTS[kind]
    entries = unpack_grouped(archive, root)
    files = {e.file for e in entries}
    missing = [b for b in (*layout.train, layout.test, layout.meta) if f"{layout.folder}/{b}" not in files]
    if missing:
        raise ArchiveError(f"{archive}: no {layout.folder}/{missing[0]} (of {missing}); "
                           f"is it the python version of {kind}?")
    return entries
