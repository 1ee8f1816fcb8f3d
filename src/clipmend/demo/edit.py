"""The demo's editor: a failure's own object, where it was, on a fresh background of the chosen kind.

The demo world knows each image's object: debug-split image ``val-{class}-{i}`` shows the
i-th held-out object of its class (``world.build_world``). Its place is read off the
image's mask (the world records each object's opacity); the editor renders a new
background of the requested kind and pastes the same object at the same place, with the
world's own compositing (``textures.composite_at``), the demo analogue of an edit that
keeps the object and repaints everything else.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from clipmend.data.registry import DEBUG_SPLIT
from clipmend.demo.fmnist import CLASS_NAMES, load_subset
from clipmend.demo.textures import OBJECT_SIZE, composite_at, object_masks, render_background, resolve_background
from clipmend.demo.world import WorldSpec, _held_out, object_pools
from clipmend.generation.registry import register_generator
from clipmend.generation.requests import rng_for


def debug_object(spec: WorldSpec, pools: Mapping[str, list[np.ndarray]], image_id: str) -> np.ndarray:
    """The 28x28 object of debug-split image ``image_id`` (``val-{class}-{i:04d}``) of the world ``spec``."""
    prefix = f"{DEBUG_SPLIT}-"
    class_name, _, position = image_id[len(prefix):].rpartition("-")
    if not image_id.startswith(prefix) or class_name not in spec.classes or not position.isdigit():
        raise ValueError(f"demo edit source {image_id!r} is not a debug-split image of this world "
                         f"(ids {prefix}{{class}}-{{i}}, classes {list(spec.classes)})")
    held_out = _held_out(pools, CLASS_NAMES.index(class_name), spec.n_train)
    if int(position) >= spec.n_val:
        raise ValueError(f"demo edit source {image_id!r}: the world has {spec.n_val} debug images per class")
    return held_out[int(position)]


def object_offset(obj: np.ndarray, mask: np.ndarray, image_id: str) -> tuple[int, int]:
    """Where ``obj`` sits in an image whose object mask is ``mask`` (float [0, 1]), checked exactly."""
    size = mask.shape[0]
    seen, own = np.argwhere(mask > 0), np.argwhere(obj > 0)
    if not len(seen) or not len(own):
        raise ValueError(f"demo edit source {image_id!r} has an empty object mask")
    top, left = (seen.min(axis=0) - own.min(axis=0)).tolist()
    fits = 0 <= top <= size - OBJECT_SIZE and 0 <= left <= size - OBJECT_SIZE
    expected = np.rint(mask * 255).astype(np.uint8)
    if not fits or not np.array_equal(object_masks(obj[None], np.array([[top, left]]), size)[0], expected):
        raise ValueError(f"demo edit source {image_id!r}: its mask is not its world object's; was the "
                         "data prepared with another demo config? re-run prepare_data")
    return top, left


@register_generator("copypaste-edit")
class CopyPasteEditor:
    """Pastes each source's own object onto a freshly rendered background (``generator.mode: edit``).

    ``strength`` and ``inpaint`` (config ``generator.edit``) are diffusers settings: the demo
    keeps the object exactly and replaces the whole background, so they change nothing here
    and are not in its identity.
    """

    name = "copypaste"

    def __init__(self, world: Mapping[str, Any], strength: float = 0.75, inpaint: bool = True):
        self.spec = WorldSpec.from_config(world)
        self._pools: dict[str, list[np.ndarray]] | None = None

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "edit": "object on a fresh background", "image_size": self.spec.image_size}

    def edit(self, requests: Sequence, images: Sequence[Image.Image],
             masks: Sequence[np.ndarray | None]) -> Iterator[Image.Image]:
        if self._pools is None:
            self._pools = object_pools(load_subset())
        for request, image, mask in zip(requests, images, masks, strict=True):
            if mask is None:
                raise ValueError(f"demo edit source {request.source!r} has no object mask")
            if image.size != (self.spec.image_size,) * 2:
                raise ValueError(f"demo edit source {request.source!r} is {image.size[0]}px, the world's "
                                 f"images {self.spec.image_size}px: re-run prepare_data")
            obj = debug_object(self.spec, self._pools, request.source)
            top, left = object_offset(obj, mask, request.source)
            rng = rng_for(request.seed)
            background = render_background(resolve_background(request.background), self.spec.image_size, rng)
            yield Image.fromarray(composite_at(obj, background, top, left), mode="RGB")
