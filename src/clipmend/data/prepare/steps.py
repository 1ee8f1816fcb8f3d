"""The prepare steps as the workflow's scripts call them: verify, unpack, finish."""

from __future__ import annotations

import logging
import os
import shutil
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clipmend.data.prepare.checksums import verify_archive
from clipmend.data.prepare.manifest import MANIFEST, Entry, merge, write_entries
from clipmend.data.prepare.tree import clean_partial
from clipmend.io import write_json
from clipmend.progress import ProgressBar

log = logging.getLogger(__name__)


def download(url: str, path: str | Path) -> None:
    """Fetch ``url`` into ``path`` (through ``path.part``, renamed when complete)."""
    path = Path(path)
    part = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s to %s", url, path)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with ProgressBar(total=total, unit="B", unit_scale=True, desc=path.name, mininterval=2) as bar:
                while block := response.read(1 << 20):
                    out.write(block)
                    bar.update(len(block))
        if total is not None and part.stat().st_size != total:
            raise OSError(f"got {part.stat().st_size} of {total} bytes")
    except OSError as err:
        part.unlink(missing_ok=True)
        raise OSError(f"download of {url} to {path} failed: {err}") from None
    os.replace(part, path)


def verify(path: str, kind: str, key: str, prepare: Mapping[str, Any], stamp: str | Path) -> None:
    """Fetch archive ``key`` if it is missing and has a URL, verify it and write its stamp."""
    url = (prepare.get("urls") or {}).get(key)
    if url and not Path(path).exists():
        download(url, path)
    pinned = (prepare.get("checksums") or {}).get(key)
    write_json(verify_archive(path, kind, key, pinned, bool(prepare.get("verify", True))), stamp)


def imagenet_index(archive: str, members_out: str | Path) -> None:
    """Index ``ILSVRC2012_img_train.tar``'s class tars (the chunks' work list)."""
    from clipmend.data.prepare.imagenet import index_train, write_members

    write_members(index_train(archive), members_out)


def imagenet_train(archive: str, members: str | Path, chunk: int, chunk_size: int, root: str,
                   part: str | Path) -> None:
    """Unpack chunk ``chunk`` of the train classes into ``root/train/<wnid>/``; write its manifest part."""
    from clipmend.data.prepare.imagenet import chunk_of, read_members, unpack_train

    classes = chunk_of(read_members(members), int(chunk), int(chunk_size))
    write_entries(part, unpack_train(archive, classes, root))


def imagenet_val(source: Mapping[str, str], root: str, part: str | Path) -> None:
    """ImageNet's val images into ``root/val/<wnid>/`` from ``source``: archive + devkit, or val_dir + val_solution."""
    from clipmend.data.prepare.imagenet import unpack_val, unpack_val_flat

    if "val_dir" in source:
        entries = unpack_val_flat(source["val_dir"], source["val_solution"], root)
    else:
        entries = unpack_val(source["archive"], source["devkit"], root)
    write_entries(part, entries)


def unpack(kind: str, archive: str, root: str, part: str | Path) -> None:
    """Unpack a one-archive kind (CIFAR, Waterbirds) into ``root``; write its manifest part."""
    if kind == "waterbirds":
        from clipmend.data.prepare.waterbirds import prepare_waterbirds

        entries = prepare_waterbirds(archive, root)
    else:
        from clipmend.data.prepare.cifar import prepare_cifar

        entries = prepare_cifar(kind, archive, root)
    write_entries(part, entries)


def finish(parts: Sequence[str | Path], root: str | Path, summary: str | Path) -> list[Entry]:
    """Merge the jobs' manifest parts into ``root/MANIFEST.tsv``; drop the staging area."""
    entries = merge(parts, Path(root) / MANIFEST)
    clean_partial(root)
    write_json({"root": str(root), "manifest": str(Path(root) / MANIFEST), "files": len(entries),
                "bytes": sum(e.size for e in entries)}, summary)
    log.info("%s: %d files, %.2f GB; free there: %.1f GB", root, len(entries),
             sum(e.size for e in entries) / 1e9, shutil.disk_usage(root).free / 1e9)
    return entries
