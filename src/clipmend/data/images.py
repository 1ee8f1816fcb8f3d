"""Image references: one string per image, either a file path or ``ARRAY.npy#ROW``.

Object masks are referenced the same way: a row of a (N, H, W) bool or uint8 ``.npy``
array (uint8: 255 = object), or a greyscale image file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")


def array_ref(npy_path: str | Path, row: int) -> str:
    """The reference of row ``row`` of a uint8 (N, H, W, 3) ``.npy`` array."""
    return f"{npy_path}#{row}"


def is_array_ref(ref: str) -> bool:
    """True for an ``ARRAY.npy#ROW`` reference (decoded by clipmend, never corrupt)."""
    return "#" in ref and ref.rsplit("#", 1)[0].endswith(".npy")


@lru_cache(maxsize=16)
def open_array(path: str) -> np.ndarray:
    """A uint8 (N, H, W, 3) ``.npy`` array, memory-mapped (cached per process)."""
    return np.load(path, mmap_mode="r")


class UnreadableImageError(ValueError):
    """A referenced image that does not decode (a missing, truncated or corrupt file)."""


def load_image(ref: str) -> Image.Image:
    """Load one referenced image as RGB; raise ``UnreadableImageError`` naming it when unreadable."""
    try:
        if is_array_ref(ref):
            path, row = ref.rsplit("#", 1)
            return Image.fromarray(np.asarray(open_array(path)[int(row)]), mode="RGB")
        with Image.open(ref) as image:
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError, IndexError, ValueError) as err:
        raise UnreadableImageError(f"cannot read image {ref!r}: {err}") from None


def load_mask(ref: str) -> np.ndarray:
    """Load one referenced object mask as float32 (H, W) in [0, 1]; ``ValueError`` naming it."""
    try:
        if is_array_ref(ref):
            path, row = ref.rsplit("#", 1)
            mask = np.asarray(open_array(path)[int(row)])
        else:
            with Image.open(ref) as image:
                mask = np.asarray(image.convert("L"))
    except (OSError, UnidentifiedImageError, IndexError, ValueError) as err:
        raise ValueError(f"cannot read mask {ref!r}: {err}") from None
    if mask.ndim != 2 or mask.dtype not in (np.bool_, np.uint8):
        raise ValueError(f"mask {ref!r} is {mask.dtype} {mask.shape}; expected (H, W) bool or uint8")
    return mask.astype(np.float32) / (1.0 if mask.dtype == np.bool_ else 255.0)


def image_problem(path: str | Path) -> str | None:
    """None if the file decodes as an image, else why not.

    JPEGs decode in draft mode (1/8 scale): still every byte of the file, so truncated
    and corrupt files fail, at a fraction of a full decode's cost.
    """
    try:
        with Image.open(path) as image:
            image.draft("RGB", (64, 64))
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        return f"{type(err).__name__}: {err}"
    return None


def find_unreadable(paths: Sequence[str], workers: int = 2) -> dict[int, str]:
    """Positions of the unreadable image files among ``paths``, with the reason (threads decode)."""
    with ThreadPoolExecutor(max(1, workers)) as pool:
        problems = list(pool.map(image_problem, paths))
    return {i: p for i, p in enumerate(problems) if p is not None}
