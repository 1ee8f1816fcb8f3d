"""Data sets by name: each builder writes an index of its images.

An index is a table with one row per image: ``id, split, label, class_name, image``
(an image reference, see ``clipmend.data.images``) and optional columns:

- ``background``: the true background (the demo);
- ``attribute``: a generic spurious attribute value per image, the one the second paper's
  groups (class x attribute) use: the demo's background, Waterbirds' place (land/water).
  Data sets without one (imagefolder, imagenet, cifar) leave it out; ``has_attribute``;
- ``mask``: a reference to the object's mask (``clipmend.data.images.load_mask``; the demo);
- ``object``: which object an image shows, where several images show one (the demo's paired
  test split: each object on every background). Intervals resample objects, not images
  (``clipmend.spurious.intervals``), as images of one object are not independent draws.

Splits: ``train`` (original training data for heads), ``val`` (the debug set),
``test``; the demo adds ``clip`` (captioned data for training its CLIP).
Builders register themselves on import; ``BUILDER_MODULES`` names the module of each
built-in one, imported only when that kind is asked for (``demo`` lives with the demo).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

INDEX_COLUMNS = ["id", "split", "label", "class_name", "image"]
DEBUG_SPLIT = "val"  # the debug set's split name on disk (the paper's validation set)
ATTRIBUTE_COLUMN = "attribute"
MASK_COLUMN = "mask"
OBJECT_COLUMN = "object"

Builder = Callable[..., tuple[pd.DataFrame, list[str]]]
DATASETS: dict[str, Builder] = {}


def register_dataset(kind: str) -> Callable[[Builder], Builder]:
    """Decorator: make a data-set builder selectable by ``kind`` in config."""

    def wrap(builder: Builder) -> Builder:
        DATASETS[kind] = builder
        return builder

    return wrap


BUILDER_MODULES = {
    "demo": "clipmend.demo.dataset",
    "imagefolder": "clipmend.data.imagefolder",
    "imagenet": "clipmend.data.imagefolder",
    "cifar10": "clipmend.data.cifar",
    "cifar100": "clipmend.data.cifar",
    "waterbirds": "clipmend.data.waterbirds",
}


def has_attribute(index: pd.DataFrame) -> bool:
    """True if the index records a spurious attribute value for every image."""
    return ATTRIBUTE_COLUMN in index.columns and bool(index[ATTRIBUTE_COLUMN].notna().all())


def objects_by_id(index: pd.DataFrame) -> pd.Series | None:
    """The object each image shows, by image id (``OBJECT_COLUMN``); None where the index has none."""
    return index.set_index("id")[OBJECT_COLUMN] if OBJECT_COLUMN in index.columns else None


def has_mask(index: pd.DataFrame) -> bool:
    """True if the index references an object mask for every image."""
    return MASK_COLUMN in index.columns and bool(index[MASK_COLUMN].notna().all())


def _import_builder(kind: str) -> None:
    if kind in BUILDER_MODULES and kind not in DATASETS:
        importlib.import_module(BUILDER_MODULES[kind])


def prepare_dataset(kind: str, out_dir: str | Path, options: Mapping[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """Build data set ``kind`` into ``out_dir``; return its index and class names."""
    _import_builder(kind)
    if kind not in DATASETS:
        raise ValueError(f"unknown dataset kind {kind!r}; valid: {sorted(set(DATASETS) | set(BUILDER_MODULES))}")
    index, classes = DATASETS[kind](Path(out_dir), **options)
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    if missing:
        raise RuntimeError(f"dataset builder {kind!r} returned an index without columns {missing}")
    if index["id"].duplicated().any():
        raise RuntimeError(f"dataset builder {kind!r} returned duplicate image ids")
    return index, classes
