"""Reading tar archives member by member, with truncation reported, not silently tolerated.

Python's ``tarfile`` ends an iteration quietly when an archive is cut exactly between two
members; ``check_complete`` catches that from the archive's size. A folder-grouped archive
(CIFAR's and WILDS' tarballs) is unpacked in one streaming pass by ``unpack_grouped``.
"""

from __future__ import annotations

import io
import logging
import os
import tarfile
import zlib
from pathlib import Path

from clipmend.data.prepare.manifest import Entry, read_entries
from clipmend.data.prepare.tree import FRAGMENTS, Folder, commit_file, file_done
from clipmend.progress import ProgressBar

log = logging.getLogger(__name__)

BLOCK = tarfile.BLOCKSIZE
READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError, ValueError)


class ArchiveError(ValueError):
    """An archive that is truncated, corrupt or not laid out as expected."""


def corrupt(archive: str | Path, what: str, err: BaseException | str) -> ArchiveError:
    """A one-line error about ``archive``."""
    return ArchiveError(f"{archive}: {what} is truncated or corrupt ({err}); check the archive's "
                        "checksum (prepare.verify) or copy it again")


def check_complete(archive: str | Path, tar: tarfile.TarFile, size: int) -> None:
    """Raise if ``tar`` (iterated to its end) stopped before its end-of-archive blocks."""
    if tar.offset + BLOCK > size:
        raise corrupt(archive, "the archive", f"it ends at byte {size} without an end-of-archive "
                      f"marker after its last member (byte {tar.offset})")


class Window(io.RawIOBase):
    """A read-only, seekable view of bytes ``offset .. offset+size`` of an open file."""

    def __init__(self, f, offset: int, size: int) -> None:
        self.f, self.offset, self.size, self.pos = f, offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, pos: int, whence: int = 0) -> int:
        self.pos = {0: pos, 1: self.pos + pos, 2: self.size + pos}[whence]
        return self.pos

    def read(self, n: int = -1) -> bytes:
        n = self.size - self.pos if n < 0 else min(n, self.size - self.pos)
        self.f.seek(self.offset + self.pos)
        data = self.f.read(max(n, 0))
        self.pos += len(data)
        return data


def read_exact(f, offset: int, size: int, archive: str | Path, name: str) -> bytes:
    """``size`` bytes at ``offset``; fewer (the archive was cut) raises ArchiveError naming ``name``."""
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise corrupt(archive, name, f"{len(data)} of {size} bytes")
    return data


def unpack_grouped(archive: str | Path, root: str | Path, strip: str = "") -> list[Entry]:
    """Unpack a tar(.gz) whose files are ``[strip]FOLDER/FILE`` or top-level ``FILE`` into ``root``.

    One streaming pass; each folder is staged and renamed into place when the stream moves
    on to the next, and folders already in place (matching their fragments) are skipped.
    """
    root = Path(root)
    entries: list[Entry] = []
    folder, skip, seen = None, False, set()

    def finish() -> None:
        if folder is not None and not skip:
            entries.extend(folder.commit())

    try:
        with tarfile.open(archive, "r|*") as tar, ProgressBar(desc=Path(archive).name, unit="file",
                                                      mininterval=2) as bar:
            for member in tar:
                name = member.name.removeprefix("./")
                name = name.removeprefix(strip) if strip else name
                if member.isdir() or not name:
                    continue
                if not member.isfile():
                    raise ArchiveError(f"{archive}: member {member.name} is a link or device; "
                                       "only regular files are unpacked")
                parts = name.split("/")
                if len(parts) == 1:
                    if file_done(root, name):
                        entries.extend(read_entries(root / FRAGMENTS / f"{name}.tsv"))
                    else:
                        entries.extend(commit_file(root, name, tar.extractfile(member).read()))
                    continue
                if len(parts) != 2:
                    raise ArchiveError(f"{archive}: member {member.name} is nested deeper than "
                                       f"{strip}FOLDER/FILE")
                if folder is None or parts[0] != folder.name:
                    finish()
                    if parts[0] in seen:
                        raise ArchiveError(f"{archive}: the files of folder {parts[0]} are not stored "
                                           "together; repack it with `tar cf` of the folder tree")
                    seen.add(parts[0])
                    folder = Folder(root, "", parts[0])
                    skip = folder.is_done()
                    if skip:
                        entries.extend(read_entries(folder.fragment))
                    else:
                        folder.start()
                if not skip:
                    folder.add(parts[1], tar.extractfile(member).read())
                bar.update()
            finish()
    except ArchiveError:
        raise
    except READ_ERRORS as err:
        where = f"folder {folder.name}" if folder is not None else "the archive"
        raise corrupt(archive, where, err) from None
    if not entries:
        raise ArchiveError(f"{archive}: no files under {strip or 'its root'}")
    log.info("%s: %d files in %d folders under %s", archive, len(entries), len(seen), root)
    return entries


def file_size(path: str | Path) -> int:
    """Size of a file in bytes."""
    return os.stat(path).st_size
