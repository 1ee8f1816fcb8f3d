"""The demo's generator: paste Fashion-MNIST objects onto freshly rendered backgrounds.

"{class} {background}" renders an object of the class on that background; for the
random-debugging prompt (no background) the background is drawn from the class's
train distribution, the analogue of a diffusion model's prior. Objects come from the
part of the subset that no split of the demo world uses.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from clipmend.demo.fmnist import CLASS_NAMES, load_subset
from clipmend.demo.textures import composite, render_background, resolve_background
from clipmend.demo.world import GENERATOR_OBJECTS_START, WorldSpec, object_pools, train_background_distribution
from clipmend.generation.registry import register_generator
from clipmend.generation.requests import ImageRequest, rng_for


@register_generator("copypaste")
class CopyPasteGenerator:
    """Renders class objects on named backgrounds (the demo's stand-in for diffusion)."""

    name = "copypaste"

    def __init__(self, world: Mapping[str, Any]):
        self.spec = WorldSpec.from_config(world)
        self._pool: list[np.ndarray] | None = None

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "image_size": self.spec.image_size,
                "correlation": self.spec.correlation, "classes": list(self.spec.classes), "mode": self.spec.mode,
                "common_backgrounds": {k: list(v) for k, v in sorted(self.spec.common_backgrounds.items())}}

    def _objects(self, class_name: str) -> np.ndarray:
        if self._pool is None:
            self._pool = [p[GENERATOR_OBJECTS_START:] for p in object_pools(load_subset())["train"]]
        return self._pool[CLASS_NAMES.index(class_name)]

    def _background_name(self, request: ImageRequest, rng: np.random.Generator) -> str:
        if request.background is not None:
            return resolve_background(request.background)
        probs = train_background_distribution(self.spec, request.class_name)
        return self.spec.backgrounds[rng.choice(len(self.spec.backgrounds), p=probs)]

    def generate(self, requests: Sequence[ImageRequest]) -> Iterator[Image.Image]:
        for request in requests:
            if request.class_name not in self.spec.classes:
                raise ValueError(f"copypaste knows only the demo classes {list(self.spec.classes)}, "
                                 f"not {request.class_name!r}")
            rng = rng_for(request.seed)
            background = self._background_name(request, rng)
            objects = self._objects(request.class_name)
            obj = objects[rng.integers(len(objects))]
            pixels = composite(obj, render_background(background, self.spec.image_size, rng), rng)
            yield Image.fromarray(pixels, mode="RGB")
