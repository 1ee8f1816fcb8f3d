"""The demo world as a data set of kind ``demo``, rendered into one uint8 array."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clipmend.data.images import array_ref
from clipmend.data.registry import register_dataset
from clipmend.demo.fmnist import CLASS_NAMES
from clipmend.demo.world import WorldSpec, build_world
from clipmend.io import write_with

log = logging.getLogger(__name__)


@register_dataset("demo")
def build_demo(out_dir: Path, **world: Any) -> tuple[pd.DataFrame, list[str]]:
    """The demo world (see ``clipmend.demo.world``), rendered into one uint8 array."""
    images, index = build_world(WorldSpec.from_config(world))
    npy = out_dir / "images.npy"
    write_with(npy, lambda tmp: np.save(tmp.open("wb"), images))
    index["image"] = [array_ref(npy, i) for i in range(len(index))]
    log.info("demo world: %s", index.groupby("split").size().to_dict())
    return index, list(CLASS_NAMES)
