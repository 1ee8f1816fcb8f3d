"""Data sets of image files: a generic ImageFolder and ImageNet-1k.

Image references are absolute file paths. Every referenced file is decoded once while
the index is built (JPEGs at 1/8 scale, in threads), so an unreadable image is dropped
and counted in the log (``on_bad_image: skip``) or stops the build before anything is
written (``error``); feature extraction then never meets one halfway.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from clipmend.data.images import IMAGE_SUFFIXES, find_unreadable, is_array_ref
from clipmend.data.registry import INDEX_COLUMNS, register_dataset
from clipmend.data.sampling import debug_test_split, sample_per_class

log = logging.getLogger(__name__)

BAD_IMAGE_POLICIES = ("skip", "error")
FOLDER_SPLITS = {"train": "train", "val": "val", "test": "test"}
WNID = re.compile(r"^n\d{8}$")


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder`` (by suffix, case-insensitive), sorted by name."""
    with os.scandir(folder) as entries:
        return sorted(
            Path(e.path)
            for e in entries
            if e.is_file() and Path(e.name).suffix.lower() in IMAGE_SUFFIXES
        )


def class_folders(root: Path) -> list[str]:
    """Names of the sub-folders of ``root``, sorted."""
    with os.scandir(root) as entries:
        return sorted(e.name for e in entries if e.is_dir())


def drop_unreadable(index: pd.DataFrame, on_bad_image: str, workers: int = 2) -> pd.DataFrame:
    """Decode every file the index references; drop (skip) or report (error) the unreadable."""
    if on_bad_image not in BAD_IMAGE_POLICIES:
        raise ValueError(f"on_bad_image is {on_bad_image!r}; valid: {list(BAD_IMAGE_POLICIES)}")
    files = np.flatnonzero([not is_array_ref(r) for r in index["image"]])
    bad = find_unreadable(index["image"].to_numpy()[files].tolist(), workers)
    if not bad:
        log.info("checked %d image files: all readable", len(files))
        return index
    examples = "; ".join(
        f"{index['image'].iat[files[i]]} ({why})" for i, why in list(bad.items())[:5]
    )
    if on_bad_image == "error":
        raise ValueError(
            f"{len(bad)} of {len(files)} image files are unreadable, e.g. {examples}; "
            "fix or remove them, or set on_bad_image: skip"
        )
    log.warning("skipped %d unreadable image files of %d, e.g. %s", len(bad), len(files), examples)
    for i, why in bad.items():
        log.info("skipped %s (%s)", index["image"].iat[files[i]], why)
    return index.drop(index.index[files[list(bad)]]).reset_index(drop=True)


def unique_names(names: list[str], keys: list[str]) -> list[str]:
    """``names`` with each duplicated one suffixed by its key, e.g. ``crane (n02012849)``."""
    counts = pd.Series(names).value_counts()
    return [f"{n} ({k})" if counts[n] > 1 else n for n, k in zip(names, keys)]


def _rows(
    split: str, paths: list[Path], labels: list[int], classes: list[str], root: Path
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [p.relative_to(root).with_suffix("").as_posix() for p in paths],
            "split": split,
            "label": np.asarray(labels, dtype=np.int64),
            "class_name": [classes[i] for i in labels],
            "image": [str(p) for p in paths],
        },
        columns=INDEX_COLUMNS,
    )


@register_dataset("imagefolder")
def build_imagefolder(
    out_dir: Path,
    root: str,
    splits: Mapping[str, str] | None = None,
    train_per_class: int | None = None,
    seed: int = 0,
    on_bad_image: str = "skip",
    check_workers: int = 2,
) -> tuple[pd.DataFrame, list[str]]:
    """``root/<folder>/<class>/*`` for each split (train, val = debug set, test) in ``splits``."""
    root = Path(root).resolve()
    splits = dict(FOLDER_SPLITS if splits is None else splits)
    unknown = set(splits) - set(FOLDER_SPLITS)
    if unknown:
        raise ValueError(
            f"imagefolder splits {sorted(unknown)} unknown; valid: {list(FOLDER_SPLITS)}"
        )
    present = {s: root / f for s, f in splits.items() if (root / f).is_dir()}
    if "val" not in present:
        raise FileNotFoundError(
            f"imagefolder: no debug-set folder {root / splits.get('val', 'val')}"
        )
    classes = sorted({c for folder in present.values() for c in class_folders(folder)})
    frames = []
    for split, folder in present.items():
        paths, labels = [], []
        for label, name in enumerate(classes):
            if (folder / name).is_dir():
                found = list_images(folder / name)
                paths += found
                labels += [label] * len(found)
        keep = sample_per_class(
            np.asarray(labels), train_per_class if split == "train" else None, seed
        )
        frames.append(
            _rows(split, [paths[i] for i in keep], [labels[i] for i in keep], classes, root)
        )
    index = drop_unreadable(pd.concat(frames, ignore_index=True), on_bad_image, check_workers)
    log.info("imagefolder %s: %s", root, index.groupby("split").size().to_dict())
    return index, classes


def read_synset_mapping(path: str | Path | None) -> tuple[list[str], list[str]]:
    """ImageNet-1k wnids in label order and their class names.

    ``path``: a ``LOC_synset_mapping.txt``-style file (``n01440764 tench, Tinca tinca``
    per line, in label order); None: timm's bundled ImageNet-1k synsets and lemmas.
    """
    if path is None:
        from clipmend import _torchvision_fix  # noqa: F401, I001  (before timm imports torchvision)
        from timm.data import ImageNetInfo

        info = ImageNetInfo("imagenet-1k")
        wnids = list(info.label_names())
        names = [info.index_to_description(i) for i in range(len(wnids))]
    else:
        pairs = [
            line.split(maxsplit=1) for line in Path(path).read_text().splitlines() if line.strip()
        ]
        bad = [p[0] for p in pairs if not WNID.match(p[0])]
        if bad:
            raise ValueError(
                f"synset mapping {path}: {bad[:3]} are not wnids (lines 'n01440764 tench, ...')"
            )
        wnids = [p[0] for p in pairs]
        names = [p[1].strip() if len(p) > 1 else p[0] for p in pairs]
    return wnids, unique_names(names, wnids)


def read_val_labels(path: str | Path) -> dict[str, str]:
    """File stem -> wnid from ``name wnid`` lines (spaces or commas; e.g. LOC_val_solution.csv)."""
    labels = {}
    for line in Path(path).read_text().splitlines():
        fields = re.split(r"[,\s]+", line.strip())
        if len(fields) >= 2 and WNID.match(fields[1]):
            labels[Path(fields[0]).stem] = fields[1]
    if not labels:
        raise ValueError(f"val labels {path}: no 'file wnid' lines found")
    return labels


def _imagenet_split(
    folder: Path,
    wnids: list[str],
    val_labels: str | None,
    per_class: int | None = None,
    seed: int = 0,
) -> tuple[list[Path], list[int]]:
    """Images and labels of one split; ``per_class`` samples each class folder as it is listed."""
    label_of = {w: i for i, w in enumerate(wnids)}
    if val_labels is None:
        unknown = sorted(set(class_folders(folder)) - set(label_of))
        if unknown:
            raise ValueError(f"{folder}: class folders {unknown[:5]} are not in the synset mapping")
        pairs = []
        for wnid in class_folders(folder):
            files = list_images(folder / wnid)
            keep = sample_per_class(np.full(len(files), label_of[wnid]), per_class, seed)
            pairs += [(files[i], label_of[wnid]) for i in keep]
    else:
        stems = read_val_labels(val_labels)
        files = list_images(folder)
        missing = [p.name for p in files if p.stem not in stems or stems[p.stem] not in label_of]
        if missing:
            raise ValueError(
                f"{folder}: {len(missing)} images without a known label in {val_labels}, "
                f"e.g. {missing[:3]}"
            )
        pairs = [(p, label_of[stems[p.stem]]) for p in files]
    return [p for p, _ in pairs], [label for _, label in pairs]


@register_dataset("imagenet")
def build_imagenet(
    out_dir: Path,
    root: str,
    train_per_class: int | None = 30,
    debug_size: int = 30000,
    test_size: int | None = 20000,
    seed: int = 0,
    synset_mapping: str | None = None,
    val_labels: str | None = None,
    on_bad_image: str = "skip",
    check_workers: int = 2,
) -> tuple[pd.DataFrame, list[str]]:
    """ImageNet-1k as in the paper: 30 train images per class; val split into debug set and test.

    ``root/train/<wnid>/*.JPEG``; ``root/val/<wnid>/*.JPEG``, or a flat ``root/val`` with
    ``val_labels``. Labels follow the synset mapping's order (sorted wnids for
    ImageNet-1k), so pretrained 1000-way heads apply as they are.
    """
    root = Path(root).resolve()
    wnids, classes = read_synset_mapping(synset_mapping)
    frames = []
    if (root / "train").is_dir():
        paths, labels = _imagenet_split(root / "train", wnids, None, train_per_class, seed)
        frames.append(_rows("train", paths, labels, classes, root))
    else:
        log.warning(
            "imagenet: no %s; no train split (models without a classifier need one)", root / "train"
        )
    paths, labels = _imagenet_split(root / "val", wnids, val_labels)
    split = debug_test_split(np.asarray(labels), debug_size, test_size, seed)
    for name in ("val", "test"):
        keep = np.flatnonzero(split == name)
        frames.append(
            _rows(name, [paths[i] for i in keep], [labels[i] for i in keep], classes, root)
        )
    index = drop_unreadable(pd.concat(frames, ignore_index=True), on_bad_image, check_workers)
    log.info("imagenet %s: %s", root, index.groupby("split").size().to_dict())
    return index, classes
