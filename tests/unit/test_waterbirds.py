"""The Waterbirds builder on a tiny fixture in the official WILDS layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from clipmend.data.images import load_image, load_mask
from clipmend.data.registry import INDEX_COLUMNS, has_attribute, has_mask, prepare_dataset
from tests.unit.test_datasets_real import write_jpeg, write_truncated_jpeg

# (img_filename, y, split, place): every group of every split, plus an extra WILDS column
ROWS = [
    ("001.Black_footed_Albatross/a_0001.jpg", 1, 0, 1),
    ("001.Black_footed_Albatross/a_0002.jpg", 1, 0, 0),
    ("002.Laysan_Albatross/b_0001.jpg", 1, 1, 1),
    ("014.Indigo_Bunting/c_0001.jpg", 0, 0, 0),
    ("014.Indigo_Bunting/c_0002.jpg", 0, 1, 0),
    ("014.Indigo_Bunting/c_0003.jpg", 0, 2, 1),
    ("015.Lazuli_Bunting/d_0001.jpg", 0, 2, 0),
    ("002.Laysan_Albatross/b_0002.jpg", 1, 2, 1),
]


def write_metadata(root: Path, rows=ROWS, drop: str | None = None) -> None:
    frame = pd.DataFrame(rows, columns=["img_filename", "y", "split", "place"])
    frame.insert(0, "img_id", range(1, len(frame) + 1))
    frame["place_filename"] = "/o/ocean/00000001.jpg"
    frame.drop(columns=[drop] if drop else []).to_csv(root / "metadata.csv", index=False)


@pytest.fixture
def waterbirds_root(tmp_path) -> Path:
    root = tmp_path / "waterbird_complete95_forest2water2"
    for i, (name, *_) in enumerate(ROWS):
        write_jpeg(root / name, i)
    write_metadata(root)
    return root


def test_waterbirds_index_has_splits_labels_places_and_files(waterbirds_root, tmp_path):
    index, classes = prepare_dataset("waterbirds", tmp_path / "out", {"root": str(waterbirds_root)})
    assert classes == ["landbird", "waterbird"]
    assert list(index.columns) == [*INDEX_COLUMNS, "attribute"] and has_attribute(index)
    assert index["split"].tolist() == ["train", "train", "val", "train", "val", "test", "test", "test"]
    assert index["label"].tolist() == [r[1] for r in ROWS]
    assert index["class_name"].tolist()[:4] == ["waterbird", "waterbird", "waterbird", "landbird"]
    assert index["attribute"].tolist() == ["water", "land", "water", "land", "land", "water", "land", "water"]
    assert index["id"].iat[0] == "001.Black_footed_Albatross/a_0001"
    assert Path(index["image"].iat[3]) == waterbirds_root.resolve() / ROWS[3][0]
    assert load_image(index["image"].iat[3]).size == (40, 30)


def test_waterbirds_missing_root_and_metadata_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        prepare_dataset("waterbirds", tmp_path, {"root": str(tmp_path / "nowhere")})
    with pytest.raises(FileNotFoundError, match="metadata.csv"):
        prepare_dataset("waterbirds", tmp_path, {"root": str(tmp_path)})


def test_waterbirds_missing_column_is_named(waterbirds_root, tmp_path):
    write_metadata(waterbirds_root, drop="place")
    with pytest.raises(ValueError, match=r"lacks columns \['place'\]"):
        prepare_dataset("waterbirds", tmp_path, {"root": str(waterbirds_root)})


@pytest.mark.parametrize("column,value", [("split", 3), ("y", 2), ("place", "sea")])
def test_waterbirds_bad_codes_are_named(waterbirds_root, tmp_path, column, value):
    rows = [list(r) for r in ROWS]
    rows[4][["img_filename", "y", "split", "place"].index(column)] = value
    write_metadata(waterbirds_root, rows)
    with pytest.raises(ValueError, match=rf"1 bad '{column}' values \(row 6: .*{value}"):
        prepare_dataset("waterbirds", tmp_path, {"root": str(waterbirds_root)})


def test_waterbirds_absent_image_is_named(waterbirds_root, tmp_path):
    (waterbirds_root / ROWS[2][0]).unlink()
    with pytest.raises(FileNotFoundError, match="b_0001.jpg"):
        prepare_dataset("waterbirds", tmp_path, {"root": str(waterbirds_root)})


def test_waterbirds_unreadable_image_stops_or_is_skipped(waterbirds_root, tmp_path):
    write_truncated_jpeg(waterbirds_root / ROWS[0][0])
    with pytest.raises(ValueError, match="a_0001.jpg"):
        prepare_dataset("waterbirds", tmp_path, {"root": str(waterbirds_root)})
    index, _ = prepare_dataset(
        "waterbirds", tmp_path, {"root": str(waterbirds_root), "on_bad_image": "skip"}
    )
    assert len(index) == len(ROWS) - 1 and "001.Black_footed_Albatross/a_0001" not in set(index["id"])


def test_waterbirds_segmentations_become_masks(waterbirds_root, tmp_path):
    seg = tmp_path / "segmentations"
    for i, (name, *_) in enumerate(ROWS):
        (seg / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((30, 40), 51 * (i % 6), np.uint8)).save((seg / name).with_suffix(".png"))
    options = {"root": str(waterbirds_root), "segmentations": str(seg)}
    index, _ = prepare_dataset("waterbirds", tmp_path, options)
    assert has_mask(index) and not has_mask(index.drop(columns="mask"))
    mask = load_mask(index["mask"].iat[2])
    assert mask.shape == (30, 40) and mask.dtype == np.float32 and np.allclose(mask, 0.4)
    (seg / ROWS[5][0]).with_suffix(".png").unlink()
    with pytest.raises(FileNotFoundError, match="c_0003.png"):
        prepare_dataset("waterbirds", tmp_path, options)
