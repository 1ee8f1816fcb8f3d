"""Image generators by name: the interface every backend provides, and the registry.

A generator turns ``ImageRequest``s into PIL images. Backends register themselves on
import; ``create_generator`` imports a built-in backend's module only when it is asked
for, so this module imports none of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from clipmend.config_check import moved_key_error

if TYPE_CHECKING:
    from PIL import Image

    from clipmend.generation.requests import ImageRequest


class Generator(Protocol):
    """What every generator backend provides.

    A backend that knows what its images really show (the demo's) also has
    ``truth(request) -> {"true_class", "true_background", "defect"}``; manifests record it
    (``clipmend.generation.store.TRUTH_COLUMNS``; null for a backend without it).
    """

    name: str

    def identity(self) -> dict[str, Any]:
        """Everything besides the request that determines the pixels (model, steps, ...)."""

    def generate(self, requests: Sequence[ImageRequest]) -> Iterator[Image.Image | None]:
        """Yield one image per request, in order (None where a safety checker blanked it)."""


GENERATORS: dict[str, Callable[..., Generator]] = {}


def register_generator(name: str) -> Callable:
    """Class decorator: make a generator creatable by ``name`` from config."""

    def wrap(factory: Callable[..., Generator]) -> Callable[..., Generator]:
        GENERATORS[name] = factory
        return factory

    return wrap


RUN_OPTIONS = {"device": "the top-level device (auto | cpu | cuda)", "batch_size": "generator.batch_size",
               "attention": "generator.attention", "channels_last": "generator.channels_last",
               "compile": "generator.compile"}


def create_generator(
    name: str, device: str | None = None, batch_size: int | None = None,
    run_options: Mapping[str, Any] | None = None, **options: Any
) -> Generator:
    """Build the generator called ``name`` with its config options.

    ``device`` and ``run_options`` (``attention``, ``channels_last``, ``compile``) are the
    run's settings (config ``device`` and ``generator.*``): they change how fast, not which
    images (beyond float rounding), so they are not part of an image's key. ``batch_size``
    is ``generator.batch_size``, a param (diffusers pads short batches to it). All are passed
    to the backends that take them, and are never generator options.
    """
    import inspect

    _import_backend(name)
    if name not in GENERATORS:
        valid = sorted(set(GENERATORS) | set(BACKEND_MODULES))
        raise ValueError(f"unknown generator backend {name!r}; valid: {valid}")
    moved = moved_key_error({"generator": {"options": options}})
    if moved:
        raise ValueError(moved)
    factory = GENERATORS[name]
    accepted = inspect.signature(factory).parameters
    for key, value in (("device", device), ("batch_size", batch_size), *(run_options or {}).items()):
        if key not in RUN_OPTIONS:
            raise ValueError(f"unknown generator run setting {key!r}; valid: {sorted(RUN_OPTIONS)}")
        if value is not None and key in accepted:
            options[key] = value
    return factory(**options)


# the module of each built-in backend, imported only when that backend is asked for (the
# copy-paste backend imports the demo world, which a run on real data never needs)
BACKEND_MODULES = {
    "copypaste": "clipmend.demo.copypaste",
    "diffusers": "clipmend.generation.diffusion",
    "copypaste-edit": "clipmend.demo.edit",  # editors (config generator.mode: edit, clipmend.generation.edit)
    "diffusers-edit": "clipmend.generation.img2img",
}


def _import_backend(name: str) -> None:
    # backends register themselves on import; heavy ones import their deps lazily
    if name in BACKEND_MODULES and name not in GENERATORS:
        importlib.import_module(BACKEND_MODULES[name])
