"""ImageNet-1k (ILSVRC2012) from its official archives, or from a mirror's flat val folder.

- ``ILSVRC2012_img_train.tar``: 1000 inner tars ``<wnid>.tar`` of JPEGs -> ``train/<wnid>/``;
  the outer tar is indexed once (``index_train``) and unpacked in chunks of classes,
  each inner tar read in place (no copy of it is written).
- ``ILSVRC2012_img_val.tar`` (50 000 flat JPEGs) + ``ILSVRC2012_devkit_t12.tar.gz``: the
  devkit's ``data/ILSVRC2012_validation_ground_truth.txt`` gives each image's ILSVRC2012_ID
  (line i: ``ILSVRC2012_val_{i:08d}``) and ``data/meta.mat`` maps those ids to wnids
  -> ``val/<wnid>/``.
- or a flat ``val/`` folder + ``LOC_val_solution.csv`` (``ImageId,PredictionString`` with
  the wnid first) -> ``val/<wnid>/`` as hard links (copies across file systems).
"""

from __future__ import annotations

import csv
import io
import logging
import re
import tarfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

from clipmend.data.prepare.archives import (
    READ_ERRORS,
    ArchiveError,
    Window,
    check_complete,
    corrupt,
    file_size,
    read_exact,
)
from clipmend.data.prepare.manifest import Entry, read_entries
from clipmend.data.prepare.tree import Folder
from clipmend.io import write_with
from clipmend.progress import ProgressBar

log = logging.getLogger(__name__)

WNID = re.compile(r"^n\d{8}$")
GROUND_TRUTH = "data/ILSVRC2012_validation_ground_truth.txt"
META = "data/meta.mat"
MEMBER_FIELDS = ("name", "offset", "size")


def index_members(archive: str | Path) -> list[tuple[str, int, int]]:
    """(name, data offset, size) of every regular file of an uncompressed tar, in archive order."""
    size = file_size(archive)
    members = []
    try:
        with tarfile.open(archive, "r:") as tar:
            for m in tar:
                if m.isfile():
                    members.append((m.name, m.offset_data, m.size))
            check_complete(archive, tar, size)
    except ArchiveError:
        raise
    except READ_ERRORS as err:
        raise corrupt(archive, "the archive", err) from None
    cut = [n for n, o, s in members if o + s > size]
    if cut:
        raise corrupt(archive, f"member {cut[0]}", f"it ends past the archive's {size} bytes")
    if not members:
        raise ArchiveError(f"{archive}: holds no files")
    return members


def write_members(members: Iterable[tuple[str, int, int]], path: str | Path) -> None:
    """Save an archive index as a TSV (name, offset, size)."""

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            out = csv.writer(f, delimiter="\t", lineterminator="\n")
            out.writerow(MEMBER_FIELDS)
            out.writerows(members)

    write_with(path, write)


def read_members(path: str | Path) -> list[tuple[str, int, int]]:
    """An archive index written by ``write_members``."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return [(r[0], int(r[1]), int(r[2])) for r in rows[1:]]


def index_train(archive: str | Path) -> list[tuple[str, int, int]]:
    """The class tars of ``ILSVRC2012_img_train.tar``, sorted by wnid: (wnid, offset, size)."""
    members = index_members(archive)
    bad = [n for n, _, _ in members if not (n.endswith(".tar") and WNID.match(n[:-4]))]
    if bad:
        raise ArchiveError(f"{archive}: members {bad[:3]} are not class tars <wnid>.tar "
                           "(is this ILSVRC2012_img_train.tar?)")
    classes = sorted((n[:-4], o, s) for n, o, s in members)
    if len(classes) != 1000:
        log.warning("%s: %d classes (ImageNet-1k has 1000)", archive, len(classes))
    return classes


def chunk_of(items: list, chunk: int, chunk_size: int) -> list:
    """Items ``chunk * chunk_size`` up to the next chunk's first."""
    return items[chunk * chunk_size:(chunk + 1) * chunk_size]


def n_chunks(n_items: int, chunk_size: int) -> int:
    """How many chunks of ``chunk_size`` hold ``n_items``."""
    return max(1, -(-n_items // chunk_size))


def _unpack_class(f, archive: Path, wnid: str, offset: int, size: int, folder: Folder) -> None:
    folder.start()
    try:
        with tarfile.open(fileobj=Window(f, offset, size), mode="r:") as inner:
            for m in inner:
                if m.isdir():
                    continue
                if not m.isfile():
                    raise ArchiveError(f"{archive}: {wnid}.tar holds {m.name}, not a regular file")
                folder.add(Path(m.name).name, inner.extractfile(m).read())
            check_complete(f"{archive} ({wnid}.tar)", inner, size)
    except ArchiveError:
        raise
    except READ_ERRORS as err:
        raise corrupt(archive, f"class {wnid} ({wnid}.tar)", err) from None
    if not folder.entries:
        raise ArchiveError(f"{archive}: {wnid}.tar holds no images")


def unpack_train(archive: str | Path, classes: list[tuple[str, int, int]], root: str | Path) -> list[Entry]:
    """Unpack the class tars ``classes`` (wnid, offset, size) into ``root/train/<wnid>/``."""
    archive = Path(archive)
    entries: list[Entry] = []
    with open(archive, "rb") as f, ProgressBar(classes, desc="train classes", unit="class", mininterval=2) as bar:
        for wnid, offset, size in bar:
            folder = Folder(root, "train", wnid)
            if folder.is_done():
                entries += read_entries(folder.fragment)
                continue
            if offset + size > file_size(archive):
                raise corrupt(archive, f"class {wnid} ({wnid}.tar)", "it ends past the end of the archive")
            _unpack_class(f, archive, wnid, offset, size, folder)
            entries += folder.commit()
            bar.set_postfix(images=len(entries), refresh=False)
    return entries


def _devkit_member(tar: tarfile.TarFile, suffix: str, devkit: Path) -> bytes:
    for m in tar.getmembers():
        if m.isfile() and m.name.endswith(suffix):
            return tar.extractfile(m).read()
    raise ArchiveError(f"{devkit}: no member */{suffix} (is this ILSVRC2012_devkit_t12.tar.gz?)")


def read_devkit(devkit: str | Path) -> dict[str, str]:
    """Validation image stem -> wnid, from the devkit's ground truth and ``meta.mat``."""
    import scipy.io  # only here: the devkit's meta.mat is a MATLAB file

    devkit = Path(devkit)
    try:
        with tarfile.open(devkit, "r:*") as tar:
            truth = _devkit_member(tar, GROUND_TRUTH, devkit).decode().split()
            meta = scipy.io.loadmat(io.BytesIO(_devkit_member(tar, META, devkit)), squeeze_me=True)["synsets"]
    except ArchiveError:
        raise
    except (*READ_ERRORS, KeyError) as err:
        raise corrupt(devkit, "the devkit", err) from None
    leaves = meta[meta["num_children"] == 0]  # the 1000 classes (the rest are their ancestors)
    wnid_of = {int(i): str(w) for i, w in zip(leaves["ILSVRC2012_ID"], leaves["WNID"])}
    try:
        ids = [int(t) for t in truth]
        return {f"ILSVRC2012_val_{n:08d}": wnid_of[i] for n, i in enumerate(ids, start=1)}
    except (ValueError, KeyError) as err:
        raise ArchiveError(f"{devkit}: ground truth holds {err}, not an ILSVRC2012_ID of meta.mat's "
                           f"{len(wnid_of)} classes") from None


def group_by_class(names: Iterable[str], labels: Mapping[str, str], where: str) -> dict[str, list[str]]:
    """Names grouped by their stem's wnid; an unlabelled one, or a label without an image, is an error."""
    groups: dict[str, list[str]] = defaultdict(list)
    unlabelled = []
    for name in names:
        stem = Path(name).stem
        (groups[labels[stem]].append(name) if stem in labels else unlabelled.append(name))
    if unlabelled:
        raise ValueError(f"{where}: {len(unlabelled)} images have no label, e.g. {unlabelled[:3]}")
    n = sum(map(len, groups.values()))
    if n != len(labels):
        missing = sorted(set(labels) - {Path(x).stem for g in groups.values() for x in g})
        raise ValueError(f"{where}: {len(labels)} labels but {n} images; missing e.g. {missing[:3]}")
    bad = [w for w in groups if not WNID.match(w)]
    if bad:
        raise ValueError(f"{where}: labels {bad[:3]} are not wnids")
    return dict(sorted(groups.items()))


def unpack_val(archive: str | Path, devkit: str | Path, root: str | Path) -> list[Entry]:
    """``ILSVRC2012_img_val.tar`` into ``root/val/<wnid>/``, labelled by the devkit."""
    archive = Path(archive)
    members = {Path(n).name: (o, s) for n, o, s in index_members(archive)}
    groups = group_by_class(members, read_devkit(devkit), f"{archive} with {devkit}")
    entries: list[Entry] = []
    with open(archive, "rb") as f:
        for wnid, names in ProgressBar(groups.items(), desc="val classes", unit="class", mininterval=2):
            folder = Folder(root, "val", wnid)
            if not folder.is_done():
                folder.start()
                for name in names:
                    folder.add(name, read_exact(f, *members[name], archive, name))
                folder.commit()
            entries += read_entries(folder.fragment)
    return entries


def unpack_val_flat(val_dir: str | Path, solution: str | Path, root: str | Path) -> list[Entry]:
    """A flat ``val/`` folder + ``LOC_val_solution.csv`` into ``root/val/<wnid>/`` (hard links)."""
    from clipmend.data.imagefolder import list_images, read_val_labels

    val_dir = Path(val_dir)
    if not val_dir.is_dir():
        raise FileNotFoundError(f"prepare.val_dir {val_dir} is not a folder")
    files = {p.name: p for p in list_images(val_dir)}
    groups = group_by_class(files, read_val_labels(solution), f"{val_dir} with {solution}")
    entries: list[Entry] = []
    for wnid, names in ProgressBar(groups.items(), desc="val classes", unit="class", mininterval=2):
        folder = Folder(root, "val", wnid)
        if not folder.is_done():
            folder.start()
            for name in names:
                folder.add_file(name, files[name])
            folder.commit()
        entries += read_entries(folder.fragment)
    return entries

