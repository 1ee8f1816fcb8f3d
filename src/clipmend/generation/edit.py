"""Editing the failures themselves: each debug_seed failure edited into a chosen uncommon background.

Instead of generating a class's images from text, config ``generator.mode: edit`` (the set
``edit``; the paper's text-to-image set stays ``individual``) edits the model's own
debug_seed failures: each image of class c is one of c's debug_seed failures put on one of
c's top-k CLIP backgrounds (``clip.assign.top_backgrounds``, as the text set), as many
images per class and background as the text set (``generator.images_per_background``),
the class's failures taken in turn. The demo's editor pastes the failure's own object on a
freshly rendered background of that kind (``clipmend.demo.edit``); the real path runs
diffusers img2img, or inpainting of the background where the data set has object masks
(``clipmend.generation.img2img``).

No debug_heldout image is ever a source: ``edit_requests`` and ``SourceEditor`` both
refuse any source that is not a debug_seed failure (``HeldoutSourceError``), so the held-out
accuracy stays a measure on unseen images. Each edited image keeps its source in the
manifest (``source``: the source image's id, ``source_sha``: the sha256 of its pixels and
mask), and both are part of the image's store key with the editor's settings
(``generator.edit``), so a changed source or setting makes a new image.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import pandas as pd
from PIL import Image

from clipmend.data.images import load_image, load_mask
from clipmend.data.registry import MASK_COLUMN
from clipmend.generation.requests import format_generation_prompt, request_seed

log = logging.getLogger(__name__)

PathLike = str | Path
SEED_PART = "debug_seed"
MODES = ("text", "edit")  # config generator.mode: which set debug_heads trains on
DEFAULT_EDIT = {"strength": 0.75, "inpaint": True}  # the schema's defaults of generator.edit


class HeldoutSourceError(ValueError):
    """An edit asked for a source image that is not a debug_seed failure (a debug_heldout one)."""


@dataclass(frozen=True)
class EditRequest:
    """One edited image: a request as ``ImageRequest`` plus the source it edits."""

    class_name: str
    label: int
    background: str
    prompt: str
    seed: int
    source: str  # the source image's id in the data index
    source_sha: str  # sha256 of the source's pixels (and mask): a changed source is a new image


class Source(NamedTuple):
    """Where a source image and its object mask (None: the data set has none) are."""

    image: str
    mask: str | None


class Editor(Protocol):
    """What every editing backend provides (``create_generator(f"{backend}-edit", ...)``)."""

    name: str

    def identity(self) -> dict[str, Any]:
        """Everything besides the request that determines the pixels (model, strength, ...)."""

    def edit(self, requests: Sequence[EditRequest], images: Sequence[Image.Image],
             masks: Sequence[np.ndarray | None]) -> Iterator[Image.Image | None]:
        """Yield one edited image per request (None where a safety checker blanked it)."""


def check_sources(source_ids: Sequence[str], failures: pd.DataFrame) -> None:
    """Raise ``HeldoutSourceError`` unless every id is a debug_seed failure of ``failures``."""
    parts = failures.set_index("id")["part"]
    bad = sorted({str(i) for i in source_ids if parts.get(i) != SEED_PART})
    if bad:
        found = {i: (parts.get(i) if i in parts.index else "not a failure") for i in bad[:5]}
        raise HeldoutSourceError(
            f"an edit's source must be a {SEED_PART} failure, never a debug_heldout image; "
            f"{len(bad)} sources are not: {found}")


def source_sha(source: Source) -> str:
    """sha256 of a source's decoded pixels (and mask): the content part of an edit's key."""
    digest = hashlib.sha256()
    image = np.asarray(load_image(source.image))
    digest.update(repr(image.shape).encode() + image.tobytes())
    if source.mask is not None:
        mask = load_mask(source.mask)
        digest.update(repr(mask.shape).encode() + mask.tobytes())
    return digest.hexdigest()


def sources_of(index: pd.DataFrame, ids: Sequence[str]) -> dict[str, Source]:
    """The image (and mask, where the data set has them) of each id, from the data index."""
    rows = index.set_index("id")
    missing = [i for i in ids if i not in rows.index]
    if missing:
        raise ValueError(f"{len(missing)} failures are not in the data index, e.g. {missing[:5]}; "
                         "re-run prepare_data and collect_failures")
    masks = MASK_COLUMN in rows.columns
    return {i: Source(str(rows.at[i, "image"]),
                      str(rows.at[i, MASK_COLUMN]) if masks and pd.notna(rows.at[i, MASK_COLUMN]) else None)
            for i in dict.fromkeys(ids)}


def edit_requests(sources: pd.DataFrame, failures: pd.DataFrame, chosen: Mapping[int, Sequence[str]],
                  class_names: Sequence[str], template: str, per_background: int, base_seed: int,
                  shas: Mapping[str, str]) -> list[EditRequest]:
    """``per_background`` edits per class and chosen background, the class's ``sources`` in turn.

    ``sources``: the failures to edit (``id``, ``label``), sorted by id; each must be a
    debug_seed failure of ``failures`` (else ``HeldoutSourceError``). A class with chosen
    backgrounds but no source gets no images (a warning), as a class without failures.
    """
    check_sources(list(sources["id"]), failures)
    requests = []
    for label in sorted(chosen):
        class_name = class_names[label]
        ids = sorted(sources.loc[sources["label"] == label, "id"])
        if not ids:
            log.warning("class %r has no %s failure to edit: no edited images for it", class_name, SEED_PART)
            continue
        turn = 0
        for background in chosen[label]:
            prompt = format_generation_prompt(template, class_name, background)
            for i in range(per_background):
                source = ids[turn % len(ids)]
                turn += 1
                seed = request_seed(class_name, background, i, "edit", source, base_seed=base_seed)
                requests.append(EditRequest(class_name, int(label), background, prompt, seed, source,
                                            shas[source]))
    return requests


class SourceEditor:
    """An editor as a generator for ``generate_set``: loads each request's source, then edits it.

    It loads only the sources it was given (the debug_seed failures); a request for any other
    image is a ``HeldoutSourceError``, whoever built the requests.
    """

    def __init__(self, editor: Editor, sources: Mapping[str, Source]):
        self.editor = editor
        self.sources = dict(sources)
        self.name = f"{editor.name}-edit"
        self.device = getattr(editor, "device", "cpu")

    def identity(self) -> dict[str, Any]:
        return {"mode": "edit", **self.editor.identity()}

    def generate(self, requests: Sequence[EditRequest]) -> Iterator[Image.Image | None]:
        unknown = sorted({r.source for r in requests if r.source not in self.sources})
        if unknown:
            raise HeldoutSourceError(f"edit requests name sources that are not debug_seed failures: "
                                     f"{unknown[:5]}; an edit never reads a debug_heldout image")
        images = [load_image(self.sources[r.source].image) for r in requests]
        masks = [None if self.sources[r.source].mask is None else load_mask(self.sources[r.source].mask)
                 for r in requests]
        yield from self.editor.edit(requests, images, masks)


def edit_settings(generator: Mapping[str, Any]) -> dict[str, Any]:
    """``generator.edit`` with its defaults, checked: a clear error for an unknown key or bad value."""
    settings = {**DEFAULT_EDIT, **(generator.get("edit") or {})}
    unknown = sorted(set(settings) - set(DEFAULT_EDIT))
    if unknown:
        raise ValueError(f"unknown generator.edit keys {unknown}; valid: {sorted(DEFAULT_EDIT)}")
    strength = settings["strength"]
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 < strength <= 1:
        raise ValueError(f"generator.edit.strength must be a number in (0, 1], got {strength!r}")
    if not isinstance(settings["inpaint"], bool):
        raise ValueError(f"generator.edit.inpaint must be true or false, got {settings['inpaint']!r}")
    return {"strength": float(strength), "inpaint": settings["inpaint"]}


def generation_mode(generator: Mapping[str, Any]) -> str:
    """Config ``generator.mode`` (default text), checked."""
    mode = generator.get("mode", "text")
    if mode not in MODES:
        raise ValueError(f"generator.mode is {mode!r}; valid: {list(MODES)}")
    return mode
