"""Tests for the committed Fashion-MNIST subset and the script that builds it."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from clipmend.demo.fmnist import CLASS_NAMES, load_subset

REPO = Path(__file__).resolve().parents[2]
IDX_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def subset() -> dict[str, np.ndarray]:
    return load_subset()


def _build_script() -> ModuleType:
    """Import scripts/build_fmnist_subset.py (not a package) as a module."""
    path = REPO / "scripts" / "build_fmnist_subset.py"
    spec = importlib.util.spec_from_file_location("build_fmnist_subset", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_class_names() -> None:
    assert len(CLASS_NAMES) == 10 == len(set(CLASS_NAMES))
    assert CLASS_NAMES[0] == "t-shirt" and CLASS_NAMES[9] == "ankle boot"


@pytest.mark.parametrize(
    ("split", "count", "per_class"), [("train", 8000, 800), ("test", 4000, 400)])
def test_subset_shapes_and_counts(
    subset: dict[str, np.ndarray], split: str, count: int, per_class: int
) -> None:
    images, labels = subset[f"{split}_images"], subset[f"{split}_labels"]
    indices = subset[f"source_indices_{split}"]
    assert images.shape == (count, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (count,) and labels.dtype == np.uint8
    assert indices.shape == (count,) and indices.dtype == np.int32
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), [per_class] * 10)
    assert (np.diff(indices) > 0).all()  # file order, no duplicates
    assert images.max() == 255 and images[:, 0, 0].max() < 255  # real images, not blank


def test_load_subset_explicit_path(subset: dict[str, np.ndarray], tmp_path: Path) -> None:
    path = tmp_path / "copy.npz"
    np.savez(path, **{key: value[:50] for key, value in subset.items()})
    for as_type in (str, Path):
        loaded = load_subset(as_type(path))
        np.testing.assert_array_equal(loaded["test_labels"], subset["test_labels"][:50])


def test_load_subset_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.npz"
    with pytest.raises(FileNotFoundError) as err:
        load_subset(missing)
    assert str(missing) in str(err.value)
    assert "python scripts/build_fmnist_subset.py" in str(err.value)


def test_build_script_missing_idx_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _build_script().main(["--idx-dir", str(tmp_path), "--out", str(tmp_path / "x.npz")]) == 1
    message = capsys.readouterr().err
    assert str(tmp_path / "train-images-idx3-ubyte.gz") in message
    assert "dataset-fashion-mnist" in message
    assert not (tmp_path / "x.npz").exists()


def test_first_per_class_takes_first_in_file_order() -> None:
    labels = np.array([2, 0, 1, 0, 2, 1, 0, 1, 2, 0] + list(range(3, 10)) * 2, dtype=np.uint8)
    picked = _build_script().first_per_class(labels, 2)
    assert picked.dtype == np.int32
    np.testing.assert_array_equal(picked[:6], [0, 1, 2, 3, 4, 5])
    np.testing.assert_array_equal(np.bincount(labels[picked]), [2] * 10)


@pytest.mark.skipif(
    not (IDX_DIR / "t10k-labels-idx1-ubyte.gz").is_file(),
    reason="needs the Debian package dataset-fashion-mnist",
)
def test_subset_matches_official_test_file(subset: dict[str, np.ndarray]) -> None:
    """The test split is exactly the first 400 per class of the official t10k files."""
    script = _build_script()
    images, labels, indices = script.load_split(IDX_DIR, "t10k")
    np.testing.assert_array_equal(subset["test_images"], images)
    np.testing.assert_array_equal(subset["test_labels"], labels)
    np.testing.assert_array_equal(subset["source_indices_test"], indices)
    with gzip.open(IDX_DIR / "t10k-labels-idx1-ubyte.gz") as fh:
        all_labels = np.frombuffer(fh.read(), np.uint8, offset=8)
    last = indices.max()
    # No later-sampled class could have been taken earlier: every class is full at `last`.
    assert min(np.bincount(all_labels[: last + 1], minlength=10)) == 400
