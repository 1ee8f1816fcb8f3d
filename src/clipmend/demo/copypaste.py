"""The demo's generator: paste Fashion-MNIST objects onto freshly rendered backgrounds.

"{class} {background}" renders an object of the class on that background; for the
random-debugging prompt (no background) the background is drawn from the class's
train distribution, the analogue of a diffusion model's prior. Objects come from the
part of the subset that no split of the demo world uses.

Like a diffusion model it makes mistakes, at the rates of option ``defects``
(``DEFAULT_DEFECTS``): the object missing or cut off, an object of another (often
similar) class, the background not the one prompted. ``truth`` says what each image
really shows, so a filter's precision and recall can be measured.
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
from clipmend.generation.requests import ImageRequest, request_seed, rng_for

#: Stable Diffusion v1.5's failure rates on single-object prompts, as the demo's defaults.
#: missing: GenEval (Ghosh et al. 2023, arXiv:2310.11513) finds SD v1.5's single object absent
#:   in 3% of images of common COCO objects; an object on an uncommon background, and objects
#:   cut off by the frame (which GenEval counts as present), make it more: 5%.
#: wrong_class: SD v1.5 draws a near class (shirt for t-shirt, sneaker for sandal) for
#:   fine-grained classes; ALIA (Dunlap et al. 2023, arXiv:2305.16289) filters such
#:   off-class images with the target model's confidence for this reason: 5%.
#: wrong_background: "{class} {background}" names two concepts; GenEval's two-object prompts
#:   succeed in only 38% of SD v1.5 images, a background being the easier second concept: 10%.
DEFAULT_DEFECTS = {"missing": 0.05, "wrong_class": 0.05, "wrong_background": 0.10}
DEFECTS = tuple(DEFAULT_DEFECTS)

#: classes a diffusion model confuses with each demo class (Fashion-MNIST's near twins)
SIMILAR = {"t-shirt": ("shirt", "pullover"), "shirt": ("t-shirt", "pullover", "coat"),
           "pullover": ("coat", "shirt", "t-shirt"), "coat": ("pullover", "shirt"), "dress": ("coat", "trouser"),
           "trouser": ("dress",), "sandal": ("sneaker", "ankle boot"), "sneaker": ("sandal", "ankle boot"),
           "ankle boot": ("sneaker", "sandal"), "bag": ()}
SIMILAR_SHARE = 0.5  # share of wrong-class images whose object is a near twin of the prompt's class
CUT_KEEP = 0.3  # a cut-off object keeps this share of its rows or columns


def check_defects(defects: Mapping[str, Any] | None) -> dict[str, float]:
    """The defect rates, defaults filled in; a clear error for an unknown defect or a bad rate."""
    rates = dict(DEFAULT_DEFECTS)
    for key, value in (defects or {}).items():
        if key not in DEFAULT_DEFECTS:
            raise ValueError(f"generator.options.defects has unknown defect {key!r}; valid: {list(DEFECTS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"generator.options.defects.{key} must be a rate in [0, 1], got {value!r}")
        rates[key] = float(value)
    if sum(rates.values()) > 1:
        raise ValueError(f"generator.options.defects rates sum to {sum(rates.values())} > 1: {rates}")
    return rates


@register_generator("copypaste")
class CopyPasteGenerator:
    """Renders class objects on named backgrounds (the demo's stand-in for diffusion)."""

    name = "copypaste"

    def __init__(self, world: Mapping[str, Any], defects: Mapping[str, Any] | None = None):
        self.spec = WorldSpec.from_config(world)
        self.defects = check_defects(defects)
        self._pool: list[np.ndarray] | None = None

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "image_size": self.spec.image_size,
                "correlation": self.spec.correlation, "classes": list(self.spec.classes), "mode": self.spec.mode,
                "common_backgrounds": {k: list(v) for k, v in sorted(self.spec.common_backgrounds.items())},
                "defects": dict(self.defects)}

    def _objects(self, class_name: str) -> np.ndarray:
        if self._pool is None:
            self._pool = [p[GENERATOR_OBJECTS_START:] for p in object_pools(load_subset())["train"]]
        return self._pool[CLASS_NAMES.index(class_name)]

    def _prior_background(self, class_name: str, rng: np.random.Generator, avoid: str | None = None) -> str:
        probs = train_background_distribution(self.spec, class_name).copy()
        if avoid in self.spec.backgrounds:  # a prompted background outside the world's (binary mode) is never drawn
            probs[self.spec.backgrounds.index(avoid)] = 0.0
        return self.spec.backgrounds[rng.choice(len(self.spec.backgrounds), p=probs / probs.sum())]

    def truth(self, request: ImageRequest) -> dict[str, Any]:
        """What the image of ``request`` shows: ``true_class`` (None: no object), ``true_background``, ``defect``."""
        if request.class_name not in self.spec.classes:
            raise ValueError(f"copypaste knows only the demo classes {list(self.spec.classes)}, "
                             f"not {request.class_name!r}")
        rng = rng_for(request_seed(request.seed, "defect"))  # apart from the pixels' stream
        prompted = None if request.background is None else resolve_background(request.background)
        rates = dict(self.defects)
        if prompted is None or len(self.spec.backgrounds) < 2:
            rates["wrong_background"] = 0.0  # no background was asked for
        draw, defect, edge = rng.random(), None, 0.0
        for name, rate in rates.items():
            edge += rate
            if draw < edge:
                defect = name
                break
        true_class, background = request.class_name, prompted
        if defect == "missing":
            true_class = None
        elif defect == "wrong_class":
            true_class = self._wrong_class(request.class_name, rng)
        elif defect == "wrong_background":
            background = self._prior_background(request.class_name, rng, avoid=prompted)
        if background is None:
            background = self._prior_background(request.class_name, rng)
        return {"true_class": true_class, "true_background": background, "defect": defect}

    def _wrong_class(self, class_name: str, rng: np.random.Generator) -> str:
        near = [c for c in SIMILAR.get(class_name, ()) if c in self.spec.classes]
        others = [c for c in self.spec.classes if c != class_name]
        if near and rng.random() < SIMILAR_SHARE:
            return near[rng.integers(len(near))]
        return others[rng.integers(len(others))]

    def _object(self, class_name: str | None, rng: np.random.Generator, fallback: str) -> np.ndarray:
        objects = self._objects(class_name or fallback)
        obj = objects[rng.integers(len(objects))]
        if class_name is None:  # missing: no object, or one the frame cuts to a sliver
            if rng.random() < 0.5:
                return np.zeros_like(obj)
            keep = max(1, int(round(CUT_KEEP * obj.shape[0])))
            cut = np.zeros_like(obj)
            side = rng.integers(4)
            if side == 0:
                cut[:keep] = obj[:keep]
            elif side == 1:
                cut[-keep:] = obj[-keep:]
            elif side == 2:
                cut[:, :keep] = obj[:, :keep]
            else:
                cut[:, -keep:] = obj[:, -keep:]
            return cut
        return obj

    def generate(self, requests: Sequence[ImageRequest]) -> Iterator[Image.Image]:
        for request in requests:
            truth = self.truth(request)
            rng = rng_for(request.seed)
            obj = self._object(truth["true_class"], rng, request.class_name)
            pixels = composite(obj, render_background(truth["true_background"], self.spec.image_size, rng), rng)
            yield Image.fromarray(pixels, mode="RGB")
