"""Waterbirds (Sagawa et al., 2019) in the official WILDS layout.

``{root}/metadata.csv`` has one row per image with columns ``img_filename`` (the path
under ``root``), ``y`` (0 landbird, 1 waterbird), ``split`` (0 train, 1 val, 2 test)
and ``place`` (0 land, 1 water); other columns are ignored. The val split is the debug
set; ``attribute`` is the place, the spurious attribute of the benchmark's four groups.
Waterbirds pastes each CUB bird at its original size, so CUB-200-2011's segmentations
(``segmentations/{img_filename}`` with suffix ``.png``) are the birds' masks: with
``segmentations`` set, the index gets a ``mask`` column referencing them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from clipmend.data.imagefolder import drop_unreadable
from clipmend.data.registry import (
    ATTRIBUTE_COLUMN,
    DEBUG_SPLIT,
    INDEX_COLUMNS,
    MASK_COLUMN,
    register_dataset,
)

log = logging.getLogger(__name__)

CLASS_NAMES = ["landbird", "waterbird"]
PLACES = ["land", "water"]
SPLITS = {0: "train", 1: DEBUG_SPLIT, 2: "test"}
METADATA_COLUMNS = ["img_filename", "y", "split", "place"]


def _codes(metadata: pd.DataFrame, column: str, valid: list[int], path: Path) -> np.ndarray:
    """Integer column ``column``, every value among ``valid``, else a ValueError naming rows."""
    values = pd.to_numeric(metadata[column], errors="coerce")
    bad = ~values.isin(valid)
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())[:3]
        examples = ", ".join(f"row {r + 2}: {metadata[column].iat[r]!r}" for r in rows)
        raise ValueError(
            f"{path}: {int(bad.sum())} bad {column!r} values ({examples}); valid: {valid}"
        )
    return values.to_numpy().astype(np.int64)


def read_metadata(root: str | Path) -> pd.DataFrame:
    """The WILDS ``metadata.csv`` of ``root``, checked: columns, codes and that each image exists."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"waterbirds root {root} is not a directory")
    path = root / "metadata.csv"
    if not path.is_file():
        raise FileNotFoundError(
            f"waterbirds: no {path}; expected the WILDS layout with columns {METADATA_COLUMNS}"
        )
    metadata = pd.read_csv(path, dtype={"img_filename": str})
    missing = [c for c in METADATA_COLUMNS if c not in metadata.columns]
    if missing:
        raise ValueError(
            f"{path} lacks columns {missing}; has {list(metadata.columns)}, needs {METADATA_COLUMNS}"
        )
    codes = {
        "y": _codes(metadata, "y", [0, 1], path),
        "split": _codes(metadata, "split", list(SPLITS), path),
        "place": _codes(metadata, "place", [0, 1], path),
    }
    names = metadata["img_filename"].fillna("")
    absent = [f for f in names if not f or not (root / f).is_file()]
    if absent:
        raise FileNotFoundError(
            f"waterbirds: {len(absent)} images listed in {path} do not exist under {root}, "
            f"e.g. {absent[:3]}"
        )
    return pd.DataFrame({"img_filename": names, **codes})


def segmentation_paths(img_filenames: pd.Series, segmentations: str | Path) -> list[str]:
    """The CUB segmentation (``.png``) of each image under ``segmentations``; all must exist."""
    folder = Path(segmentations).resolve()
    paths = [folder / Path(f).with_suffix(".png") for f in img_filenames]
    absent = [str(p) for p in paths if not p.is_file()]
    if absent:
        raise FileNotFoundError(
            f"waterbirds: {len(absent)} segmentations missing under {folder}, e.g. {absent[:3]}"
        )
    return [str(p) for p in paths]


@register_dataset("waterbirds")
def build_waterbirds(
    out_dir: Path,
    root: str,
    segmentations: str | None = None,
    on_bad_image: str = "error",
    check_workers: int = 2,
) -> tuple[pd.DataFrame, list[str]]:
    """Waterbirds from ``root`` (WILDS layout): splits train/val/test, attribute land/water.

    Every image is decoded once; an unreadable one stops the build (``on_bad_image:
    error``, the default: dropping images would change the benchmark's groups) or is
    dropped and logged (``skip``).
    """
    root = Path(root).resolve()
    meta = read_metadata(root)
    files = [root / f for f in meta["img_filename"]]
    index = pd.DataFrame(
        {
            "id": [Path(f).with_suffix("").as_posix() for f in meta["img_filename"]],
            "split": meta["split"].map(SPLITS),
            "label": meta["y"],
            "class_name": [CLASS_NAMES[y] for y in meta["y"]],
            "image": [str(p) for p in files],
            ATTRIBUTE_COLUMN: [PLACES[p] for p in meta["place"]],
        },
        columns=[*INDEX_COLUMNS, ATTRIBUTE_COLUMN],
    )
    if index["id"].duplicated().any():
        dup = index.loc[index["id"].duplicated(), "id"].head(3).tolist()
        raise ValueError(f"waterbirds: images listed more than once in metadata.csv, e.g. {dup}")
    if segmentations is not None:
        index[MASK_COLUMN] = segmentation_paths(meta["img_filename"], segmentations)
    index = drop_unreadable(index, on_bad_image, check_workers)
    groups = index.groupby(["split", "class_name", ATTRIBUTE_COLUMN]).size()
    log.info("waterbirds %s: %s", root, groups.to_dict())
    return index, list(CLASS_NAMES)
