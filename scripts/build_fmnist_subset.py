"""Rebuild src/clipmend/demo/data/fashion_mnist_subset.npz from the official Fashion-MNIST idx files."""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

import numpy as np

DEFAULT_IDX_DIR = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "clipmend" / "demo" / "data" / "fashion_mnist_subset.npz"
APT_PACKAGE = "dataset-fashion-mnist"
N_CLASSES = 10
PER_CLASS = {"train": 800, "t10k": 400}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049


def idx_paths(idx_dir: Path, split: str) -> tuple[Path, Path]:
    """Return the (images, labels) idx file paths of one split ("train" or "t10k")."""
    return (
        idx_dir / f"{split}-images-idx3-ubyte.gz",
        idx_dir / f"{split}-labels-idx1-ubyte.gz",
    )


def check_files(idx_dir: Path) -> None:
    """Raise FileNotFoundError naming every missing idx file and the apt package."""
    missing = [p for split in PER_CLASS for p in idx_paths(idx_dir, split) if not p.is_file()]
    if missing:
        names = "\n  ".join(str(p) for p in missing)
        raise FileNotFoundError(
            f"Fashion-MNIST idx files not found:\n  {names}\n"
            f"Install them with `apt-get install {APT_PACKAGE}` "
            f"(puts them in {DEFAULT_IDX_DIR}) or pass --idx-dir DIR."
        )


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Read a gzipped idx file (big-endian header) into a uint8 array."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    header = np.frombuffer(raw, dtype=">u4", count=1)[0]
    if header != magic:
        raise ValueError(f"{path}: magic number {header}, expected {magic}")
    ndim = magic & 0xFF
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Positions of the first `per_class` samples of each class, in file order."""
    picks = [np.flatnonzero(labels == c)[:per_class] for c in range(N_CLASSES)]
    for c, idx in enumerate(picks):
        if len(idx) < per_class:
            raise ValueError(f"class {c} has only {len(idx)} samples, need {per_class}")
    return np.sort(np.concatenate(picks)).astype(np.int32)


def load_split(idx_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (images, labels, source_indices) of the selected subset of one split."""
    img_path, lbl_path = idx_paths(idx_dir, split)
    images = read_idx(img_path, IMAGE_MAGIC)
    labels = read_idx(lbl_path, LABEL_MAGIC)
    if len(images) != len(labels):
        raise ValueError(f"{split}: {len(images)} images but {len(labels)} labels")
    idx = first_per_class(labels, PER_CLASS[split])
    return images[idx].copy(), labels[idx].copy(), idx


def build(idx_dir: Path, out: Path) -> Path:
    """Select the subset and write it to `out` with np.savez_compressed."""
    check_files(idx_dir)
    tr_x, tr_y, tr_i = load_split(idx_dir, "train")
    te_x, te_y, te_i = load_split(idx_dir, "t10k")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        train_images=tr_x,
        train_labels=tr_y,
        test_images=te_x,
        test_labels=te_y,
        source_indices_train=tr_i,
        source_indices_test=te_i,
    )
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idx-dir", type=Path, default=DEFAULT_IDX_DIR,
                        help=f"directory with the four idx .gz files (default {DEFAULT_IDX_DIR})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output .npz (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    try:
        out = build(args.idx_dir, args.out)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
