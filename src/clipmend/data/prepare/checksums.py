"""Published checksums of the official archives, and verifying an archive against one.

Sources (each value copied from the file named):
- ImageNet-1k (ILSVRC2012): torchvision 0.28.0, ``torchvision/datasets/imagenet.py``,
  ``ARCHIVE_META`` (MD5).
- CIFAR-10 and CIFAR-100 python tarballs: torchvision 0.28.0,
  ``torchvision/datasets/cifar.py``, ``tgz_md5`` (MD5; the same values are on the CIFAR page).
- Waterbirds (WILDS ``waterbirds_v1.0``): WILDS publishes no checksum
  (``wilds/datasets/waterbirds_dataset.py``: ``compressed_size: None``); its archive's
  SHA-256 is recorded in the stamp on first use, and a user may pin one (``checksums:``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CHUNK = 1 << 22  # 4 MiB reads: hashing runs at disk speed


@dataclass(frozen=True)
class Published:
    """An official archive: its file name, hash algorithm and digest, and where that is published."""

    file: str
    algorithm: str
    digest: str | None
    source: str


_TV = "torchvision 0.28.0 torchvision/datasets/"
PUBLISHED: dict[tuple[str, str], Published] = {
    ("imagenet", "train"): Published(
        "ILSVRC2012_img_train.tar", "md5", "1d675b47d978889d74fa0da5fadfb00e", _TV + "imagenet.py"),
    ("imagenet", "val"): Published(
        "ILSVRC2012_img_val.tar", "md5", "29b22e2961454d5413ddabcf34fc5622", _TV + "imagenet.py"),
    ("imagenet", "devkit"): Published(
        "ILSVRC2012_devkit_t12.tar.gz", "md5", "fa75699e90414af021442c21a62c3abf", _TV + "imagenet.py"),
    ("cifar10", "archive"): Published(
        "cifar-10-python.tar.gz", "md5", "c58f30108f718f92721af3b95e74349a", _TV + "cifar.py"),
    ("cifar100", "archive"): Published(
        "cifar-100-python.tar.gz", "md5", "eb9058c3a382ffc7106e4002c42a8d85", _TV + "cifar.py"),
    ("waterbirds", "archive"): Published(
        "waterbirds_v1.0.tar.gz", "sha256", None, "none published (wilds waterbirds_dataset.py)"),
}


class ChecksumError(ValueError):
    """An archive whose digest differs from the expected one."""


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 4 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def algorithm_of(digest: str) -> str:
    """``md5`` or ``sha256`` from a hex digest's length."""
    algorithms = {32: "md5", 64: "sha256"}
    if len(digest) not in algorithms or any(c not in "0123456789abcdef" for c in digest.lower()):
        raise ValueError(f"checksum {digest!r} is neither an MD5 (32 hex digits) nor a SHA-256 (64)")
    return algorithms[len(digest)]


def expected_digest(kind: str, key: str, pinned: str | None = None) -> tuple[str | None, str]:
    """The digest an archive must have and where it comes from: ``pinned`` (config) or the published one."""
    if pinned:
        algorithm_of(pinned)
        return pinned.lower(), "pinned in config (prepare.checksums)"
    published = PUBLISHED.get((kind, key))
    if published is None or published.digest is None:
        return None, published.source if published else "none known"
    return published.digest, f"published, {published.source}"


def verify_archive(path: str | Path, kind: str, key: str, pinned: str | None = None, verify: bool = True) -> dict:
    """Check archive ``key`` of ``kind`` at ``path``; return a stamp (path, size, digest, source).

    A mismatch raises ``ChecksumError`` naming the file and both digests. Without a known
    digest (Waterbirds, unless pinned) the archive's SHA-256 is recorded and a warning logged.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{kind} archive {key}: {path} does not exist; set its path in "
                                "datasets.<name>.prepare.archives (or a URL in prepare.urls)")
    stat = path.stat()
    stamp = {"archive": str(path), "key": key, "kind": kind, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    if not verify:
        log.warning("%s: checksum not verified (prepare.verify is false)", path)
        return {**stamp, "verified": False}
    expected, source = expected_digest(kind, key, pinned)
    algorithm = algorithm_of(expected) if expected else "sha256"
    log.info("hashing %s (%.1f GB, %s)", path, stat.st_size / 1e9, algorithm)
    actual = file_digest(path, algorithm)
    if expected is None:
        log.warning("%s: no published checksum (%s); its sha256 is %s: pin it in prepare.checksums.%s",
                    path, source, actual, key)
    elif actual != expected:
        raise ChecksumError(f"{path}: {algorithm} is {actual}, expected {expected} ({source}); "
                            "the file is truncated, corrupt or not the official archive")
    else:
        log.info("%s: %s %s matches (%s)", path, algorithm, actual, source)
    return {**stamp, "verified": expected is not None, algorithm: actual, "source": source}
