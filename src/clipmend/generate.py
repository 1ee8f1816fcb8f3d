"""Image generators behind one interface, and a shared on-disk image store.

A generator turns ``ImageRequest``s into PIL images. The store keys every image by
(generator identity, prompt, seed, class, background), so two models that ask for the
same image share one file, and an interrupted run only generates what is missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from clipmend.io import atomic_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageRequest:
    """One image to generate: a prompt plus the class and background it stands for."""

    class_name: str
    label: int
    background: str | None  # None: random debugging ("a photo of {class}")
    prompt: str
    seed: int


class Generator(Protocol):
    """What every generator backend provides."""

    name: str

    def identity(self) -> dict[str, Any]:
        """Everything besides the request that determines the pixels (model, steps, ...)."""

    def generate(self, requests: Sequence[ImageRequest]) -> Iterator[Image.Image]:
        """Yield one image per request, in order."""


GENERATORS: dict[str, Callable[..., Generator]] = {}


def register_generator(name: str) -> Callable:
    """Class decorator: make a generator creatable by ``name`` from config."""

    def wrap(factory: Callable[..., Generator]) -> Callable[..., Generator]:
        GENERATORS[name] = factory
        return factory

    return wrap


def create_generator(name: str, **options: Any) -> Generator:
    """Build the generator called ``name`` with its config options."""
    _import_backends()
    if name not in GENERATORS:
        raise ValueError(f"unknown generator backend {name!r}; valid: {sorted(GENERATORS)}")
    return GENERATORS[name](**options)


def _import_backends() -> None:
    # backends register themselves on import; heavy ones import their deps lazily
    import clipmend.generate_copypaste  # noqa: F401

    try:
        import clipmend.generate_diffusers  # noqa: F401
    except ModuleNotFoundError as err:
        if err.name != "clipmend.generate_diffusers":
            raise


def image_key(identity: dict[str, Any], request: ImageRequest) -> str:
    """Content key of one generated image."""
    blob = json.dumps({"generator": identity, **asdict(request)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def request_seed(*parts: Any, base_seed: int = 0) -> int:
    """A stable 31-bit seed derived from arbitrary parts (class, background, index)."""
    blob = json.dumps([base_seed, *parts], sort_keys=True).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "little") & 0x7FFFFFFF


def generate_set(
    generator: Generator,
    requests: Sequence[ImageRequest],
    store: str | Path,
    batch_size: int = 8,
    progress: bool = True,
) -> pd.DataFrame:
    """Generate the requested images into ``store`` (reusing existing ones); return a manifest."""
    store = Path(store)
    identity = generator.identity()
    keys = [image_key(identity, r) for r in requests]
    paths = [store / k[:2] / f"{k}.png" for k in keys]
    todo = [i for i, p in enumerate(paths) if not p.exists()]
    log.info("%d images requested, %d in the store, %d to generate",
             len(requests), len(requests) - len(todo), len(todo))
    bar = tqdm(total=len(todo), desc=f"generate ({generator.name})", disable=not progress)
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        images = list(generator.generate([requests[i] for i in chunk]))
        if len(images) != len(chunk):
            raise RuntimeError(
                f"generator {generator.name!r} returned {len(images)} images for {len(chunk)} requests"
            )
        for i, image in zip(chunk, images):
            with atomic_path(paths[i]) as tmp:
                image.save(tmp, format="PNG")
        bar.update(len(chunk))
    bar.close()
    rows = []
    flat_identity = {f"gen_{k}": _scalar(v) for k, v in identity.items()}
    for key, path, r in zip(keys, paths, requests):
        rows.append({"id": f"gen-{key}", "image": str(path), **asdict(r), **flat_identity})
    return pd.DataFrame(rows, columns=_manifest_columns(flat_identity))


def _manifest_columns(flat_identity: dict[str, Any]) -> list[str]:
    base = ["id", "image", "class_name", "label", "background", "prompt", "seed"]
    return base + list(flat_identity)


def _scalar(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else json.dumps(value)


def rng_for(seed: int) -> np.random.Generator:
    """The numpy generator a backend uses for one request's seed."""
    return np.random.default_rng(seed)


def format_generation_prompt(template: str, class_name: str, background: str | None = None) -> str:
    """Fill a generator prompt template, with a clear error for a bad one."""
    try:
        if background is None:
            return template.format(class_name=class_name)
        return template.format(class_name=class_name, background=background)
    except (KeyError, IndexError, ValueError) as err:
        allowed = "{class_name}" + ("" if background is None else " and {background}")
        raise ValueError(f"generator prompt {template!r} may use only {allowed} ({err!r})") from None


def debug_requests(chosen: dict[int, list[str]], class_names: Sequence[str], template: str,
                   per_background: int, base_seed: int) -> list[ImageRequest]:
    """``per_background`` images of each class on each of its chosen backgrounds."""
    requests = []
    for label in sorted(chosen):
        class_name = class_names[label]
        for background in chosen[label]:
            prompt = format_generation_prompt(template, class_name, background)
            for i in range(per_background):
                seed = request_seed(class_name, background, i, base_seed=base_seed)
                requests.append(ImageRequest(class_name, label, background, prompt, seed))
    missing = [c for i, c in enumerate(class_names) if i not in chosen]
    if missing:
        log.warning("no debug_seed failures with backgrounds for classes %s: nothing generated for them",
                    missing)
    return requests


def random_requests(matched: Sequence[ImageRequest], class_names: Sequence[str], template: str,
                    base_seed: int) -> list[ImageRequest]:
    """The random-debugging set: as many "a photo of {class}" images per class as ``matched``."""
    counts = pd.Series([r.label for r in matched], dtype=int).value_counts().sort_index()
    requests = []
    for label, count in counts.items():
        class_name = class_names[label]
        prompt = format_generation_prompt(template, class_name)
        for i in range(int(count)):
            seed = request_seed(class_name, "random", i, base_seed=base_seed)
            requests.append(ImageRequest(class_name, int(label), None, prompt, seed))
    return requests
