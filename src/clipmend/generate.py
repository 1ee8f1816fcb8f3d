"""Image generators behind one interface, and a shared on-disk image store.

A generator turns ``ImageRequest``s into PIL images. The store keys every image by
(generator identity, prompt, seed, class, background), so two models that ask for the
same image share one file, and an interrupted run only generates what is missing.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
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

    def generate(self, requests: Sequence[ImageRequest]) -> Iterator[Image.Image | None]:
        """Yield one image per request, in order (None where a safety checker blanked it)."""


GENERATORS: dict[str, Callable[..., Generator]] = {}


def register_generator(name: str) -> Callable:
    """Class decorator: make a generator creatable by ``name`` from config."""

    def wrap(factory: Callable[..., Generator]) -> Callable[..., Generator]:
        GENERATORS[name] = factory
        return factory

    return wrap


RUN_OPTIONS = {"device": "the top-level device (auto | cpu | cuda)", "batch_size": "generator.batch_size"}


def create_generator(
    name: str, device: str | None = None, batch_size: int | None = None, **options: Any
) -> Generator:
    """Build the generator called ``name`` with its config options.

    ``device`` and ``batch_size`` are the run's settings (config ``device`` and
    ``generator.batch_size``), passed to backends that take them; never generator options.
    """
    import inspect

    _import_backend(name)
    if name not in GENERATORS:
        valid = sorted(set(GENERATORS) | set(BACKEND_MODULES))
        raise ValueError(f"unknown generator backend {name!r}; valid: {valid}")
    for key, where in RUN_OPTIONS.items():
        if key in options:
            raise ValueError(
                f"generator.options.{key} is {options[key]!r}, but it is a run setting: "
                f"remove it and set {where}"
            )
    factory = GENERATORS[name]
    accepted = inspect.signature(factory).parameters
    for key, value in (("device", device), ("batch_size", batch_size)):
        if value is not None and key in accepted:
            options[key] = value
    return factory(**options)


# the module of each built-in backend, imported only when that backend is asked for (the
# copy-paste backend imports the demo world, which a run on real data never needs)
BACKEND_MODULES = {
    "copypaste": "clipmend.generate_copypaste",
    "diffusers": "clipmend.generate_diffusers",
}


def _import_backend(name: str) -> None:
    # backends register themselves on import; heavy ones import their deps lazily
    if name in BACKEND_MODULES and name not in GENERATORS:
        importlib.import_module(BACKEND_MODULES[name])


def image_key(identity: dict[str, Any], request: ImageRequest) -> str:
    """Content key of one generated image."""
    blob = json.dumps({"generator": identity, **asdict(request)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def request_seed(*parts: Any, base_seed: int = 0) -> int:
    """A stable 31-bit seed derived from arbitrary parts (class, background, index)."""
    blob = json.dumps([base_seed, *parts], sort_keys=True).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "little") & 0x7FFFFFFF


SAFETY_RETRIES = 2  # new seeds tried for an image a safety checker blanked, before dropping it


def _store_path(store: Path, key: str, suffix: str = ".png") -> Path:
    return store / key[:2] / f"{key}{suffix}"


def generate_set(
    generator: Generator,
    requests: Sequence[ImageRequest],
    store: str | Path,
    batch_size: int = 8,
    progress: bool = True,
    safety_retries: int = SAFETY_RETRIES,
) -> pd.DataFrame:
    """Generate the requested images into ``store`` (reusing existing ones); return a manifest.

    A generator yields None for an image its safety checker blanked. Such a request is
    marked in the store (``KEY.blank``, so a resumed run does not ask again) and retried
    with a new seed up to ``safety_retries`` times, then dropped: no black image reaches
    a manifest. Each row's ``blanked`` counts the blanked tries before its image; the
    manifest's ``attrs["safety"]`` (kept in the parquet file) counts blanked, regenerated
    and dropped images.
    """
    store = Path(store)
    identity = generator.identity()
    current = list(requests)
    blanked = [0] * len(current)
    pending = list(range(len(current)))
    bar = tqdm(total=len(current), desc=f"generate ({generator.name})", disable=not progress)
    for attempt in range(safety_retries + 1):
        keys = {i: image_key(identity, current[i]) for i in pending}
        todo = [i for i in pending if not _store_path(store, keys[i]).exists()
                and not _store_path(store, keys[i], ".blank").exists()]
        if attempt == 0:
            log.info("%d images requested, %d in the store, %d to generate",
                     len(current), len(current) - len(todo), len(todo))
            bar.update(len(current) - len(todo))
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            images = list(generator.generate([current[i] for i in chunk]))
            if len(images) != len(chunk):
                raise RuntimeError(
                    f"generator {generator.name!r} returned {len(images)} images for {len(chunk)} requests"
                )
            for i, image in zip(chunk, images):
                if image is None:
                    _store_path(store, keys[i], ".blank").parent.mkdir(parents=True, exist_ok=True)
                    _store_path(store, keys[i], ".blank").touch()
                    continue
                with atomic_path(_store_path(store, keys[i])) as tmp:
                    image.save(tmp, format="PNG")
                bar.update(1)
        pending = [i for i in pending if not _store_path(store, keys[i]).exists()]
        for i in pending:
            blanked[i] += 1
            if attempt < safety_retries:
                request = requests[i]
                current[i] = replace(request, seed=request_seed(request.seed, "safety", attempt + 1))
        if not pending:
            break
    bar.close()
    dropped = set(pending)
    if any(blanked):
        log.warning("safety checker: %d images blanked, %d regenerated with a new seed, %d dropped",
                    sum(blanked), sum(1 for i, n in enumerate(blanked) if n and i not in dropped),
                    len(dropped))
    rows = []
    flat_identity = {f"gen_{k}": _scalar(v) for k, v in identity.items()}
    for i, r in enumerate(current):
        if i in dropped:
            continue
        key = image_key(identity, r)
        rows.append({"id": f"gen-{key}", "image": str(_store_path(store, key)), **asdict(r),
                     "blanked": blanked[i], **flat_identity})
    manifest = pd.DataFrame(rows, columns=_manifest_columns(flat_identity))
    manifest.attrs["safety"] = {
        "blanked": sum(blanked),
        "regenerated": sum(1 for i, n in enumerate(blanked) if n and i not in dropped),
        "dropped": len(dropped),
    }
    return manifest


def _manifest_columns(flat_identity: dict[str, Any]) -> list[str]:
    base = ["id", "image", "class_name", "label", "background", "prompt", "seed", "blanked"]
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
