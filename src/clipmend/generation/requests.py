"""What to generate: one ``ImageRequest`` per image, with a stable seed and a filled prompt."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageRequest:
    """One image to generate: a prompt plus the class and background it stands for."""

    class_name: str
    label: int
    background: str | None  # None: random debugging ("a photo of {class}")
    prompt: str
    seed: int


def request_seed(*parts: Any, base_seed: int = 0) -> int:
    """A stable 31-bit seed derived from arbitrary parts (class, background, index)."""
    blob = json.dumps([base_seed, *parts], sort_keys=True).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "little") & 0x7FFFFFFF


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
