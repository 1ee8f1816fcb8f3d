"""The shared on-disk image store: every image keyed by its content, generated once.

The store keys every image by (generator identity, prompt, seed, class, background), so
two models that ask for the same image share one file, and an interrupted run only
generates what is missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from clipmend.generation.registry import Generator
from clipmend.generation.requests import ImageRequest, request_seed
from clipmend.io import atomic_path

log = logging.getLogger(__name__)


def image_key(identity: dict[str, Any], request: ImageRequest) -> str:
    """Content key of one generated image."""
    blob = json.dumps({"generator": identity, **asdict(request)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


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
