"""Data sets by name: each builder writes an index of its images.

An index is a table with one row per image: ``id, split, label, class_name, image``
(an image reference, see ``clipmend.images``) and, where known, ``background``.
Splits: ``train`` (original training data for heads), ``val`` (the debug set),
``test``; the demo adds ``clip`` (captioned data for training its CLIP).
Builders: ``demo`` here, ``imagefolder`` and ``imagenet`` in ``clipmend.datasets_files``,
``cifar10`` and ``cifar100`` in ``clipmend.datasets_cifar``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clipmend.images import array_ref
from clipmend.io import write_with

log = logging.getLogger(__name__)

INDEX_COLUMNS = ["id", "split", "label", "class_name", "image"]

Builder = Callable[..., tuple[pd.DataFrame, list[str]]]
DATASETS: dict[str, Builder] = {}


def register_dataset(kind: str) -> Callable[[Builder], Builder]:
    """Decorator: make a data-set builder selectable by ``kind`` in config."""

    def wrap(builder: Builder) -> Builder:
        DATASETS[kind] = builder
        return builder

    return wrap


def _import_builders() -> None:
    # builders in other modules register themselves on import
    from clipmend import datasets_cifar, datasets_files  # noqa: F401


def prepare_dataset(kind: str, out_dir: str | Path, options: Mapping[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """Build data set ``kind`` into ``out_dir``; return its index and class names."""
    _import_builders()
    if kind not in DATASETS:
        raise ValueError(f"unknown dataset kind {kind!r}; valid: {sorted(DATASETS)}")
    index, classes = DATASETS[kind](Path(out_dir), **options)
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    if missing:
        raise RuntimeError(f"dataset builder {kind!r} returned an index without columns {missing}")
    if index["id"].duplicated().any():
        raise RuntimeError(f"dataset builder {kind!r} returned duplicate image ids")
    return index, classes


@register_dataset("demo")
def build_demo(out_dir: Path, **world: Any) -> tuple[pd.DataFrame, list[str]]:
    """The demo world (see ``clipmend.demo.world``), rendered into one uint8 array."""
    from clipmend.demo.fmnist import CLASS_NAMES
    from clipmend.demo.world import WorldSpec, build_world

    images, index = build_world(WorldSpec.from_config(world))
    npy = out_dir / "images.npy"
    write_with(npy, lambda tmp: np.save(tmp.open("wb"), images))
    index["image"] = [array_ref(npy, i) for i in range(len(index))]
    log.info("demo world: %s", index.groupby("split").size().to_dict())
    return index, list(CLASS_NAMES)
