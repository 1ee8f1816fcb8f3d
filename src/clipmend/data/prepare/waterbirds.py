"""Waterbirds from the WILDS archive (``waterbirds_v1.0/``: metadata.csv and 200 species folders)."""

from __future__ import annotations

import logging
from pathlib import Path

from clipmend.data.prepare.archives import unpack_grouped
from clipmend.data.prepare.manifest import Entry

log = logging.getLogger(__name__)

TOP = "waterbirds_v1.0/"
N_IMAGES = 11788  # CUB-200-2011's images, each pasted on a Places background


def prepare_waterbirds(archive: str | Path, root: str | Path) -> list[Entry]:
    """Unpack the WILDS tarball into ``root`` (its ``waterbirds_v1.0/`` stripped) and check metadata.csv."""
    from clipmend.data.waterbirds import read_metadata

    entries = unpack_grouped(archive, root, strip=TOP)
    n = len(read_metadata(root))  # every listed image exists, codes valid
    if n != N_IMAGES:
        log.warning("%s: metadata.csv lists %d images; WILDS' waterbirds_v1.0 has %d", archive, n, N_IMAGES)
    return entries
