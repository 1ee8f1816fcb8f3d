"""A generated set as a data set a user can load elsewhere: an ImageFolder tree, metadata.csv, SHA256SUMS.

The tree holds one folder per class, ``{label}_{name}`` (the label zero-padded, so that
torchvision's ``ImageFolder``, which numbers folders in sorted order, gives every image its
clipmend label), each image once under its manifest id. ``metadata.csv`` has Hugging Face
``datasets``' ``file_name`` column (the path relative to the tree) and every column of the
manifest but the store path (class, prompt, background, seed, the generator's settings as
``gen_*``, filter scores where the manifest has them), plus ``sha256``. ``SHA256SUMS`` lists
every file of the tree, metadata.csv included, in ``sha256sum -c`` format. Images are hard links
to the image store where it can (no extra disk), made read-only, since writing one in place would
change the store's image too. The tree is built
in a temporary folder beside its place and renamed into it whole, so a killed export leaves no
tree that looks complete.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from clipmend.io import TEMPORARY, owner_gone, owner_tag

log = logging.getLogger(__name__)

METADATA, CHECKSUMS = "metadata.csv", "SHA256SUMS"
REQUIRED = ("id", "image", "class_name", "label")
FIRST = ["file_name", "class_name", "label", "prompt", "background", "seed"]
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def class_folder(label: int, name: str, classes: int) -> str:
    """``{label}_{name}``: the label zero-padded to sort in label order, the name with only safe characters."""
    width = len(str(max(classes - 1, 0)))
    return f"{int(label):0{width}d}_{_UNSAFE.sub('_', str(name)).strip('_') or 'class'}"


def sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _place(source: Path, target: Path, link: bool) -> None:
    """Hard-link ``source`` to ``target`` (a copy where linking is refused: another file system)."""
    if link:
        try:
            os.link(source, target)
            return
        except OSError as err:
            if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
    shutil.copyfile(source, target)


def _sweep(parent: Path, name: str) -> None:
    """Remove the staging folders a dead export of ``name`` left in ``parent``."""
    if not parent.is_dir():
        return
    now = time.time()
    for entry in parent.iterdir():
        match = TEMPORARY.match(entry.name)
        if match and match["name"] in (name, f"{name}.old") and entry.is_dir():
            if owner_gone(int(match["pid"]), match["host"], now - entry.stat().st_mtime):
                shutil.rmtree(entry, ignore_errors=True)


def export_set(manifest: pd.DataFrame, out_dir: str | Path, classes: int, link: bool = True) -> pd.DataFrame:
    """Write one generated set under ``out_dir`` (see the module); return its metadata table.

    ``manifest`` is a generated set's manifest (``clipmend.generation.store``); ``classes`` the
    data set's number of classes (the folder names' width). A missing image names itself.
    """
    missing = [c for c in REQUIRED if c not in manifest.columns]
    if missing:
        raise ValueError(f"the manifest lacks column(s) {missing}; a generated set's manifest has {list(REQUIRED)}")
    manifest = manifest.drop_duplicates("id").reset_index(drop=True)
    sources = [Path(p) for p in manifest["image"]]
    absent = [str(p) for p in sources if not p.is_file()]
    if absent:
        raise FileNotFoundError(f"{len(absent)} images of the set are not in the image store, e.g. {absent[0]}; "
                                "re-run the generation rule (snakemake --forcerun generate_images)")
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _sweep(out_dir.parent, out_dir.name)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.{owner_tag()}.", suffix=".tmp", dir=out_dir.parent))
    try:
        files, hashes = [], []
        for row, source in zip(manifest.itertuples(index=False), sources):
            folder = class_folder(row.label, row.class_name, classes)
            (staging / folder).mkdir(exist_ok=True)
            name = f"{folder}/{row.id}{source.suffix}"
            _place(source, staging / name, link)
            (staging / name).chmod(0o444)  # read-only: a hard link shares its bytes with the store
            files.append(name)
            hashes.append(sha256(staging / name))
        metadata = manifest.drop(columns=["image"]).assign(file_name=files, sha256=hashes)
        metadata = metadata[[c for c in FIRST if c in metadata] + [c for c in metadata if c not in FIRST]]
        metadata.to_csv(staging / METADATA, index=False)
        lines = [f"{h}  {f}\n" for h, f in zip(hashes, files)] + [f"{sha256(staging / METADATA)}  {METADATA}\n"]
        (staging / CHECKSUMS).write_text("".join(lines))
        for path in [staging, *staging.iterdir()]:
            if path.is_dir():
                path.chmod(0o755)  # mkdtemp's folder is private
        _replace_dir(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    log.info("exported %d images in %d classes to %s (%s)", len(metadata), metadata["label"].nunique(), out_dir,
             "hard links to the image store" if link else "copies")
    return metadata


def _replace_dir(staging: Path, out_dir: Path) -> None:
    """Move the finished ``staging`` tree to ``out_dir``; an older tree there is moved aside first, then removed."""
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.{owner_tag()}.", suffix=".tmp", dir=out_dir.parent))
        os.rmdir(old)
        os.rename(out_dir, old)
    os.rename(staging, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def verify(out_dir: str | Path) -> list[str]:
    """The files of an exported tree whose SHA-256 differs from SHA256SUMS, or that are missing (empty: intact)."""
    out_dir = Path(out_dir)
    bad = []
    for line in (out_dir / CHECKSUMS).read_text().splitlines():
        digest, name = line.split("  ", 1)
        path = out_dir / name
        if not path.is_file() or sha256(path) != digest:
            bad.append(name)
    return bad
