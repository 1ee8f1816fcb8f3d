"""CIFAR-10 and CIFAR-100 from the official python pickle batches.

``cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` and
``cifar-100-python/{train, test, meta}``. The used images are decoded once into a uint8
``images.npy`` next to the index (references ``images.npy#row``). The official test set
is split, seeded and stratified, into the debug set (``val``) and ``test``; the train
split is the official training set, optionally ``train_per_class`` images per class.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clipmend.data.images import array_ref
from clipmend.data.registry import INDEX_COLUMNS, register_dataset
from clipmend.data.sampling import debug_test_split, sample_per_class
from clipmend.io import write_with

log = logging.getLogger(__name__)

# the only globals a CIFAR pickle needs: numpy arrays (numpy 1 and 2 module paths), and
# bytes as Python 3 writes them at protocol 2
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("_codecs", "encode"),
}


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR variant keeps its batches and which keys hold labels and names."""

    folder: str
    train: tuple[str, ...]
    test: str
    meta: str
    label_key: bytes
    names_key: bytes


LAYOUTS = {
    "cifar10": CifarLayout(
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test_batch",
        "batches.meta",
        b"labels",
        b"label_names",
    ),
    "cifar100": CifarLayout(
        "cifar-100-python", ("train",), "test", "meta", b"fine_labels", b"fine_label_names"
    ),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a data file runs no code."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def read_batch(path: Path) -> dict[bytes, object]:
    """One official pickle batch (bytes keys, as Python 2 wrote them)."""
    try:
        with path.open("rb") as f:
            return _ArrayUnpickler(f, encoding="bytes").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as err:
        raise ValueError(f"cannot read CIFAR batch {path}: {err}") from None


def _images_and_labels(paths: list[Path], label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for path in paths:
        batch = read_batch(path)
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(f"CIFAR batch {path}: data has shape {data.shape}, expected (N, 3072)")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch[label_key], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def _find_folder(root: Path, layout: CifarLayout) -> Path:
    for folder in (root / layout.folder, root):
        if (folder / layout.meta).is_file():
            return folder
    raise FileNotFoundError(
        f"no {layout.folder}/{layout.meta} under {root}; "
        "point root at the folder holding the extracted python batches"
    )


def _save_npy(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as f:
        np.save(f, array)


def build_cifar(
    kind: str,
    out_dir: Path,
    root: str,
    train_per_class: int | None = None,
    debug_size: int = 6000,
    test_size: int | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, list[str]]:
    """Decode CIFAR ``kind`` into ``out_dir/images.npy`` and index it."""
    layout = LAYOUTS[kind]
    folder = _find_folder(Path(root).resolve(), layout)
    names = [n.decode() for n in read_batch(folder / layout.meta)[layout.names_key]]
    train_x, train_y = _images_and_labels([folder / b for b in layout.train], layout.label_key)
    test_x, test_y = _images_and_labels([folder / layout.test], layout.label_key)
    train_keep = sample_per_class(train_y, train_per_class, seed)
    test_split = debug_test_split(test_y, debug_size, test_size, seed)
    test_keep = np.flatnonzero(test_split != "")
    npy = out_dir / "images.npy"
    write_with(
        npy, lambda tmp: _save_npy(tmp, np.concatenate([train_x[train_keep], test_x[test_keep]]))
    )
    labels = np.concatenate([train_y[train_keep], test_y[test_keep]])
    index = pd.DataFrame(
        {
            "id": [f"train/{i:05d}" for i in train_keep] + [f"test/{i:05d}" for i in test_keep],
            "split": ["train"] * len(train_keep) + test_split[test_keep].tolist(),
            "label": labels,
            "class_name": [names[i] for i in labels],
            "image": [array_ref(npy, i) for i in range(len(labels))],
        },
        columns=INDEX_COLUMNS,
    )
    log.info("%s %s: %s", kind, folder, index.groupby("split").size().to_dict())
    return index, names


@register_dataset("cifar10")
def build_cifar10(out_dir: Path, **options) -> tuple[pd.DataFrame, list[str]]:
    """CIFAR-10 (see ``build_cifar`` for the options)."""
    return build_cifar("cifar10", out_dir, **options)


@register_dataset("cifar100")
def build_cifar100(out_dir: Path, **options) -> tuple[pd.DataFrame, list[str]]:
    """CIFAR-100 with its 100 fine labels (see ``build_cifar`` for the options)."""
    return build_cifar("cifar100", out_dir, **options)
