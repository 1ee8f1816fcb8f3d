"""ImageNet, CIFAR-10/100 and ImageFolder builders on tiny fixtures in the official formats."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from clipmend.data.images import load_image
from clipmend.data.registry import INDEX_COLUMNS, prepare_dataset
from clipmend.data.sampling import debug_test_split, sample_per_class, stratified_split

WNIDS = [
    "n01440764",
    "n01443537",
    "n01484850",
]  # tench, goldfish, great white shark: labels 0, 1, 2


# ---------------------------------------------------------------- fixtures in the official formats


def photo(seed: int, size: tuple[int, int] = (40, 30)) -> Image.Image:
    """A small random RGB image."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def write_jpeg(path: Path, seed: int) -> Path:
    """A readable JPEG file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    photo(seed).save(path, quality=90)
    return path


def write_truncated_jpeg(path: Path) -> Path:
    """A JPEG cut in half: opens, but fails to decode."""
    write_jpeg(path, 999)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def cifar_batch(n: int, n_classes: int, label_key: bytes, seed: int) -> dict:
    """One pickle batch as the official archives hold it (bytes keys, (N, 3072) uint8 rows)."""
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"batch",
        label_key: [int(i % n_classes) for i in range(n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(n)],
    }


def dump(obj: object, path: Path) -> None:
    """Pickle like the official archives (protocol 2)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(obj, f, protocol=2)


@pytest.fixture
def cifar10_root(tmp_path) -> Path:
    """``cifar-10-batches-py`` with 5 train batches of 20 images and a test batch of 50."""
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    for i in range(1, 6):
        dump(cifar_batch(20, 10, b"labels", seed=i), folder / f"data_batch_{i}")
    dump(cifar_batch(50, 10, b"labels", seed=0), folder / "test_batch")
    names = [
        b"airplane",
        b"automobile",
        b"bird",
        b"cat",
        b"deer",
        b"dog",
        b"frog",
        b"horse",
        b"ship",
        b"truck",
    ]
    dump(
        {b"label_names": names, b"num_cases_per_batch": 20, b"num_vis": 3072},
        folder / "batches.meta",
    )
    return tmp_path / "cifar10"


@pytest.fixture
def cifar100_root(tmp_path) -> Path:
    """``cifar-100-python`` with 200 train and 100 test images over 100 fine classes."""
    folder = tmp_path / "cifar100" / "cifar-100-python"
    for name, n, seed in [("train", 200, 1), ("test", 100, 0)]:
        batch = cifar_batch(n, 100, b"fine_labels", seed)
        batch[b"coarse_labels"] = [label // 5 for label in batch[b"fine_labels"]]
        dump(batch, folder / name)
    dump(
        {
            b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)],
        },
        folder / "meta",
    )
    return tmp_path / "cifar100"


@pytest.fixture
def imagefolder_root(tmp_path) -> Path:
    """``root/<split>/<class>/*``: 4 train, 3 val, 2 test images per class; a corrupt file."""
    root = tmp_path / "folder"
    for split, n in [("train", 4), ("val", 3), ("test", 2)]:
        for c, name in enumerate(["cat", "dog"]):
            for i in range(n):
                write_jpeg(root / split / name / f"{i}.jpg", seed=hash((split, c, i)) % 1000)
    write_truncated_jpeg(root / "val" / "dog" / "broken.jpg")
    (root / "val" / "dog" / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def imagenet_root(tmp_path) -> Path:
    """ImageNet layout for 3 classes: 6 train and 10 val images per class."""
    root = tmp_path / "imagenet"
    for c, wnid in enumerate(WNIDS):
        for i in range(6):
            write_jpeg(root / "train" / wnid / f"{wnid}_{i}.JPEG", seed=100 * c + i)
        for i in range(10):
            write_jpeg(
                root / "val" / wnid / f"ILSVRC2012_val_{c:03d}{i:05d}.JPEG", seed=1000 + 100 * c + i
            )
    return root


def check_index(index: pd.DataFrame) -> None:
    """Columns and ids every builder must produce."""
    assert list(index.columns[: len(INDEX_COLUMNS)]) == INDEX_COLUMNS
    assert not index["id"].duplicated().any()


# ---------------------------------------------------------------- CIFAR


def test_cifar10_decodes_batches_and_splits_the_test_set(cifar10_root, tmp_path):
    index, classes = prepare_dataset(
        "cifar10", tmp_path / "out", {"root": str(cifar10_root), "debug_size": 30}
    )
    check_index(index)
    assert classes[:3] == ["airplane", "automobile", "bird"] and len(classes) == 10
    assert index.groupby("split").size().to_dict() == {"train": 100, "val": 30, "test": 20}
    assert (
        index.groupby(["split", "label"]).size().loc["val"] == 3
    ).all()  # stratified: 3 of 5 per class
    row = index[index["id"] == "test/00007"].iloc[0]
    raw = pickle.loads(
        (cifar10_root / "cifar-10-batches-py" / "test_batch").read_bytes(), encoding="bytes"
    )
    expected = raw[b"data"][7].reshape(3, 32, 32).transpose(1, 2, 0)
    assert np.array_equal(np.asarray(load_image(row["image"])), expected)
    assert row["label"] == 7 and row["class_name"] == classes[7]
    assert row["image"].startswith(str(tmp_path / "out" / "images.npy") + "#")


def test_cifar_splits_are_seeded(cifar10_root, tmp_path):
    def debug_ids(seed: int, out: str) -> set:
        index, _ = prepare_dataset(
            "cifar10", tmp_path / out, {"root": str(cifar10_root), "debug_size": 30, "seed": seed}
        )
        return set(index.loc[index["split"] == "val", "id"])

    assert debug_ids(0, "a") == debug_ids(0, "b") != debug_ids(1, "c")


def test_cifar100_fine_labels_and_train_subset(cifar100_root, tmp_path):
    options = {
        "root": str(cifar100_root / "cifar-100-python"),
        "train_per_class": 1,
        "debug_size": 60,
        "test_size": 30,
    }
    index, classes = prepare_dataset("cifar100", tmp_path / "out", options)
    check_index(index)
    assert len(classes) == 100 and classes[42] == "fine42"
    assert index.groupby("split").size().to_dict() == {"train": 100, "val": 60, "test": 30}
    assert (index[index["split"] == "train"].groupby("label").size() == 1).all()


def test_cifar_rejects_a_pickle_that_would_run_code(cifar10_root, tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("owned",))

    dump({b"label_names": Exploit()}, cifar10_root / "cifar-10-batches-py" / "batches.meta")
    with pytest.raises(ValueError, match=r"batches\.meta.*print is not allowed"):
        prepare_dataset("cifar10", tmp_path / "out", {"root": str(cifar10_root)})


def test_cifar_errors_name_the_problem(cifar10_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="no cifar-10-batches-py/batches.meta under"):
        prepare_dataset("cifar10", tmp_path / "out", {"root": str(tmp_path / "nowhere")})
    with pytest.raises(ValueError, match="exceed the 50 images"):
        prepare_dataset(
            "cifar10",
            tmp_path / "out",
            {"root": str(cifar10_root), "debug_size": 40, "test_size": 20},
        )
    assert not (tmp_path / "out" / "images.npy").exists()


# ---------------------------------------------------------------- ImageFolder and bad images


def test_imagefolder_skips_and_counts_unreadable_images(imagefolder_root, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        index, classes = prepare_dataset(
            "imagefolder", tmp_path / "out", {"root": str(imagefolder_root)}
        )
    check_index(index)
    assert classes == ["cat", "dog"]
    assert index.groupby("split").size().to_dict() == {"train": 8, "val": 6, "test": 4}
    assert not index["image"].str.endswith(("broken.jpg", "notes.txt")).any()
    assert "skipped 1 unreadable image files of 19" in caplog.text and "broken.jpg" in caplog.text
    assert index.loc[index["id"] == "val/cat/0", "label"].item() == 0
    load_image(index["image"].iloc[0])


def test_imagefolder_on_bad_image_error_stops_before_any_output(imagefolder_root, tmp_path):
    with pytest.raises(
        ValueError, match=r"1 of 19 image files are unreadable.*broken\.jpg.*on_bad_image: skip"
    ):
        prepare_dataset(
            "imagefolder",
            tmp_path / "out",
            {"root": str(imagefolder_root), "on_bad_image": "error"},
        )
    assert not (tmp_path / "out").exists()


def test_imagefolder_options(imagefolder_root, tmp_path):
    index, _ = prepare_dataset(
        "imagefolder",
        tmp_path / "out",
        {
            "root": str(imagefolder_root),
            "splits": {"train": "train", "val": "test"},
            "train_per_class": 2,
        },
    )
    assert index.groupby("split").size().to_dict() == {"train": 4, "val": 4}
    with pytest.raises(ValueError, match=r"on_bad_image is 'ignore'; valid: \['skip', 'error'\]"):
        prepare_dataset(
            "imagefolder",
            tmp_path / "out",
            {"root": str(imagefolder_root), "on_bad_image": "ignore"},
        )
    with pytest.raises(ValueError, match=r"splits \['holdout'\] unknown"):
        prepare_dataset(
            "imagefolder",
            tmp_path / "out",
            {"root": str(imagefolder_root), "splits": {"holdout": "x"}},
        )


# ---------------------------------------------------------------- ImageNet


def test_imagenet_samples_as_the_paper(imagenet_root, tmp_path):
    options = {"root": str(imagenet_root), "train_per_class": 2, "debug_size": 18, "test_size": 9}
    index, classes = prepare_dataset("imagenet", tmp_path / "out", options)
    check_index(index)
    assert len(classes) == 1000 and classes[0] == "tench, Tinca tinca"  # timm's ImageNet-1k names
    assert (
        classes.count("crane") == 0 and "crane (n02012849)" in classes
    )  # duplicate names made unique
    assert index.groupby("split").size().to_dict() == {"train": 6, "val": 18, "test": 9}
    assert (
        set(index["label"]) == {0, 1, 2}
        and (index.groupby(["split", "label"]).size().loc["val"] == 6).all()
    )
    tench = index[index["label"] == 0]
    assert (
        tench["image"].str.contains("/n01440764/").all()
        and (tench["class_name"] == classes[0]).all()
    )
    again, _ = prepare_dataset("imagenet", tmp_path / "again", options)
    pd.testing.assert_frame_equal(index, again)


def test_imagenet_flat_val_folder_with_labels_file(imagenet_root, tmp_path):
    flat = tmp_path / "flat"
    lines = ["ImageId,PredictionString"]
    for path in sorted((imagenet_root / "val").rglob("*.JPEG")):
        (flat / "val").mkdir(parents=True, exist_ok=True)
        path.rename(flat / "val" / path.name)
        lines.append(f"{path.stem},{path.parent.name} 10 20 30 40")
    (tmp_path / "LOC_val_solution.csv").write_text("\n".join(lines) + "\n")
    mapping = tmp_path / "LOC_synset_mapping.txt"
    mapping.write_text(
        "n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n"
        "n01484850 great white shark\n"
    )
    index, classes = prepare_dataset(
        "imagenet",
        tmp_path / "out",
        {
            "root": str(flat),
            "val_labels": str(tmp_path / "LOC_val_solution.csv"),
            "synset_mapping": str(mapping),
            "debug_size": 21,
            "test_size": None,
        },
    )
    assert classes == ["tench, Tinca tinca", "goldfish, Carassius auratus", "great white shark"]
    assert index.groupby("split").size().to_dict() == {
        "val": 21,
        "test": 9,
    }  # no train folder: no train split
    assert (index.groupby("label").size() == 10).all()


def test_imagenet_unknown_class_folder_is_named(imagenet_root, tmp_path):
    (imagenet_root / "val" / "n99999999").mkdir()
    with pytest.raises(
        ValueError, match=r"class folders \['n99999999'\] are not in the synset mapping"
    ):
        prepare_dataset(
            "imagenet", tmp_path / "out", {"root": str(imagenet_root), "debug_size": 10}
        )


def test_imagenet_corrupt_val_image_is_skipped(imagenet_root, tmp_path, caplog):
    write_truncated_jpeg(imagenet_root / "val" / WNIDS[1] / "ILSVRC2012_val_99999999.JPEG")
    with caplog.at_level(logging.WARNING):
        index, _ = prepare_dataset(
            "imagenet",
            tmp_path / "out",
            {"root": str(imagenet_root), "debug_size": 20, "test_size": None},
        )
    assert len(index[index["split"] != "train"]) == 30 and "skipped 1 unreadable" in caplog.text


# ---------------------------------------------------------------- sampling


def test_stratified_split_takes_exact_proportional_counts():
    labels = np.repeat(np.arange(1000), 50)
    mask = stratified_split(labels, 30000, seed=0)
    assert mask.sum() == 30000 and (np.bincount(labels[mask]) == 30).all()
    uneven = np.array([0] * 7 + [1] * 3)
    assert stratified_split(uneven, 5, seed=0).sum() == 5
    assert np.array_equal(stratified_split(labels, 30000, seed=0), mask)


def test_debug_test_split_and_per_class_sample():
    labels = np.repeat(np.arange(4), 10)
    split = debug_test_split(labels, 24, 8, seed=0)
    assert (
        (split == "val").sum() == 24 and (split == "test").sum() == 8 and (split == "").sum() == 8
    )
    assert (
        len(sample_per_class(labels, 3, seed=0)) == 12
        and len(sample_per_class(labels, None, 0)) == 40
    )
    with pytest.raises(ValueError, match="exceed the 40 images"):
        debug_test_split(labels, 30, 20, seed=0)


def test_a_class_sample_does_not_depend_on_other_classes():
    labels = np.repeat(np.arange(4), 10)
    both = sample_per_class(labels, 3, seed=5)
    alone = sample_per_class(labels[labels == 2], 3, seed=5) + 20
    assert np.array_equal(both[labels[both] == 2], alone)
