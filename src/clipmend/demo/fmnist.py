"""The committed Fashion-MNIST subset that supplies the demo world's objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASS_NAMES: tuple[str, ...] = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)

# package data (see pyproject.toml), found next to this module in any install
DEFAULT_SUBSET_PATH = Path(__file__).resolve().parent / "data" / "fashion_mnist_subset.npz"
REBUILD_COMMAND = "python scripts/build_fmnist_subset.py"
SUBSET_KEYS = (
    "train_images", "train_labels", "test_images", "test_labels",
    "source_indices_train", "source_indices_test",
)


def load_subset(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Load the subset .npz (default: the copy shipped in clipmend/demo/data/) as a dict."""
    path = DEFAULT_SUBSET_PATH if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Fashion-MNIST subset not found at {path}; rebuild it with `{REBUILD_COMMAND}` "
            "(needs the Debian package dataset-fashion-mnist)."
        )
    with np.load(path) as npz:
        data = {key: npz[key] for key in npz.files}
    missing = [key for key in SUBSET_KEYS if key not in data]
    if missing:
        raise KeyError(f"{path} lacks keys {missing}; rebuild it with `{REBUILD_COMMAND}`.")
    return data
