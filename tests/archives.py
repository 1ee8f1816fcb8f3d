"""Small archives in the official formats of ImageNet-1k, CIFAR and WILDS' Waterbirds, built offline.

ImageNet: ``ILSVRC2012_img_train.tar`` (a tar of ``<wnid>.tar`` tars of JPEGs),
``ILSVRC2012_img_val.tar`` (flat ``ILSVRC2012_val_%08d.JPEG``) and a devkit tarball with
``data/ILSVRC2012_validation_ground_truth.txt`` and ``data/meta.mat`` (MATLAB, written by
scipy, with the devkit's ``synsets`` struct fields, one non-leaf synset included); the
mirror layout's flat ``val/`` + ``LOC_val_solution.csv``. CIFAR: the python tarballs
(protocol-2 pickles with bytes keys). Waterbirds: ``waterbirds_v1.0/`` with
``metadata.csv`` and species folders, gzipped.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

SYNSET_FIELDS = ("ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children",
                 "wordnet_height", "num_train_images")


def jpeg(rng: np.random.Generator, size: tuple[int, int] = (40, 30), quality: int = 90, blur: float = 0) -> bytes:
    """A random-noise RGB JPEG (``blur`` smooths the noise, which shrinks the file)."""
    from PIL import Image, ImageFilter

    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    """Add file ``name`` with ``data`` to an open tar."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 1_300_000_000, 0o644
    tar.addfile(info, io.BytesIO(data))


def tar_of(files: Mapping[str, bytes]) -> bytes:
    """An uncompressed tar of ``files`` (name -> content), in memory."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files.items():
            add_bytes(tar, name, data)
    return out.getvalue()


def write_tar(path: Path, files: Mapping[str, bytes], gz: bool = False) -> Path:
    """Write a tar (or .tar.gz) of ``files``."""
    with tarfile.open(path, "w:gz" if gz else "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in files.items():
            add_bytes(tar, name, data)
    return path


def imagenet_train(path: Path, images: Mapping[str, Mapping[str, bytes]]) -> Path:
    """``ILSVRC2012_img_train.tar``: one ``<wnid>.tar`` per class, written one class at a time."""
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for wnid, files in images.items():
            add_bytes(tar, f"{wnid}.tar", tar_of(files))
    return path


def devkit(path: Path, wnids: list[str], val_wnids: list[str]) -> Path:
    """A devkit tarball: meta.mat (ids 1..n for ``wnids``, plus a parent synset) and the ground truth."""
    import scipy.io

    synsets = np.zeros((len(wnids) + 1, 1), dtype=[(f, "O") for f in SYNSET_FIELDS])
    for i, wnid in enumerate(wnids, start=1):
        synsets[i - 1, 0] = (i, wnid, f"class {wnid}", "a leaf", 0, np.zeros((1, 0)), 0, 1300)
    synsets[-1, 0] = (len(wnids) + 1, "n00001740", "entity", "the root", len(wnids),
                      np.arange(1, len(wnids) + 1, dtype=np.uint8)[None], 18, 0)
    mat = io.BytesIO()
    scipy.io.savemat(mat, {"synsets": synsets})
    ids = {w: i for i, w in enumerate(wnids, start=1)}
    truth = "".join(f"{ids[w]}\n" for w in val_wnids).encode()
    return write_tar(path, {"ILSVRC2012_devkit_t12/data/meta.mat": mat.getvalue(),
                            "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt": truth,
                            "ILSVRC2012_devkit_t12/readme.txt": b"devkit\n"}, gz=True)


def val_name(n: int) -> str:
    """The file name of val image ``n`` (from 1)."""
    return f"ILSVRC2012_val_{n:08d}.JPEG"


def imagenet(folder: Path, wnids: list[str], train_per_class: int, val_per_class: int, seed: int = 0,
             image: dict | None = None) -> dict:
    """All three ImageNet archives, plus the mirror layout; returns paths and the val labels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    kw = image or {}
    train = {w: {f"{w}_{k}.JPEG": jpeg(rng, **kw) for k in range(train_per_class)} for w in wnids}
    val_wnids = [wnids[i] for i in rng.permutation(np.repeat(np.arange(len(wnids)), val_per_class))]
    val = {val_name(n): jpeg(rng, **kw) for n in range(1, len(val_wnids) + 1)}
    flat = folder / "mirror" / "val"
    flat.mkdir(parents=True, exist_ok=True)
    for name, data in val.items():
        (flat / name).write_bytes(data)
    solution = folder / "mirror" / "LOC_val_solution.csv"
    solution.write_text("ImageId,PredictionString\n" + "".join(
        f"{Path(val_name(n)).stem},{w} 10 20 30 40 {w} 1 2 3 4\n" for n, w in enumerate(val_wnids, start=1)))
    return {
        "train": imagenet_train(folder / "ILSVRC2012_img_train.tar", train),
        "val": write_tar(folder / "ILSVRC2012_img_val.tar", val),
        "devkit": devkit(folder / "ILSVRC2012_devkit_t12.tar.gz", wnids, val_wnids),
        "val_dir": flat, "val_solution": solution,
        "labels": {val_name(n): w for n, w in enumerate(val_wnids, start=1)},
        "train_images": train, "val_images": val,
    }


def cifar(path: Path, kind: str, n_per_batch: int = 20, seed: int = 0) -> Path:
    """The python tarball of CIFAR ``kind`` with ``n_per_batch`` images per batch."""
    rng = np.random.default_rng(seed)
    if kind == "cifar10":
        folder, n_classes, key, names_key = "cifar-10-batches-py", 10, b"labels", b"label_names"
        batches = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        meta = "batches.meta"
    else:
        folder, n_classes, key, names_key = "cifar-100-python", 100, b"fine_labels", b"fine_label_names"
        batches, meta = ["train", "test"], "meta"
    files = {}
    for batch in batches:
        content = {b"data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
                   key: [int(x) for x in rng.integers(0, n_classes, n_per_batch)]}
        files[f"{folder}/{batch}"] = pickle.dumps(content, protocol=2)
    files[f"{folder}/{meta}"] = pickle.dumps({names_key: [f"c{i}".encode() for i in range(n_classes)]}, protocol=2)
    files[f"{folder}/readme.html"] = b"<html></html>"
    return write_tar(path, files, gz=True)


def waterbirds(path: Path, n: int = 16, seed: int = 0) -> Path:
    """A WILDS-shaped ``waterbirds_v1.0`` tarball: metadata.csv and two species folders."""
    rng = np.random.default_rng(seed)
    species = ["001.Black_footed_Albatross", "017.Cardinal"]
    rows, files = ["img_id,img_filename,y,split,place,place_filename"], {}
    for i in range(n):
        name = f"{species[i % 2]}/bird_{i:04d}.jpg"
        files[f"waterbirds_v1.0/{name}"] = jpeg(rng)
        rows.append(f"{i + 1},{name},{i % 2},{i % 3},{(i // 2) % 2},/x/place_{i}.jpg")
    files = {"waterbirds_v1.0/metadata.csv": ("\n".join(rows) + "\n").encode(), **dict(sorted(files.items()))}
    return write_tar(path, files, gz=True)
