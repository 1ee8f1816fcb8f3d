"""The demo world as a data set of kind ``demo``: images and object masks in uint8 arrays."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clipmend.data.images import array_ref
from clipmend.data.registry import MASK_COLUMN, register_dataset
from clipmend.demo.world import WorldSpec, build_world
from clipmend.io import write_with

log = logging.getLogger(__name__)


@register_dataset("demo")
def build_demo(out_dir: Path, **world: Any) -> tuple[pd.DataFrame, list[str]]:
    """The demo world (see ``clipmend.demo.world``): ``images.npy`` and ``masks.npy`` refs."""
    spec = WorldSpec.from_config(world)
    images, masks, index = build_world(spec)
    for column, name, array in (("image", "images.npy", images), (MASK_COLUMN, "masks.npy", masks)):
        npy = out_dir / name
        write_with(npy, lambda tmp, array=array: np.save(tmp.open("wb"), array))
        index[column] = [array_ref(npy, i) for i in range(len(index))]
    log.info("demo world: %s", index.groupby("split").size().to_dict())
    return index, list(spec.classes)
