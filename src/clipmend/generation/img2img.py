"""Editing with diffusers: img2img, or inpainting of the background where an object mask exists.

``DiffusersEditor`` loads the text pipeline exactly as ``DiffusersGenerator`` (same model,
scheduler, dtype, run settings) and builds its image-to-image and inpainting pipelines from
the same components (``AutoPipelineFor*.from_pipe``: no second copy of the weights). Each
source is resized to ``height`` x ``width`` and edited towards its request's prompt ("a
photo of a {class} {background}") with ``strength`` (config ``generator.edit.strength``:
0 keeps the source, 1 ignores it). With ``inpaint`` (config ``generator.edit.inpaint``) a
source whose data set has an object mask keeps its object: only the rest (mask < 0.5) is
repainted; a source without one is edited whole by img2img. As in text generation, each
image has its own CPU ``torch.Generator`` and batches are padded to ``batch_size``, so an
image depends only on its request, its source and the settings.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image

from clipmend.generation.diffusion import DiffusersGenerator, _warn_flagged
from clipmend.generation.registry import register_generator

MASK_THRESHOLD = 0.5  # mask values at or above it are the object, kept by inpainting


@register_generator("diffusers-edit")
@dataclass
class DiffusersEditor(DiffusersGenerator):
    """A diffusers img2img / inpainting editor of source images (``generator.mode: edit``)."""

    name: ClassVar[str] = "diffusers"

    strength: float = 0.75
    inpaint: bool = True
    _edit_pipes: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.strength = float(self.strength)
        if not 0 < self.strength <= 1:
            raise ValueError(f"generator.edit.strength must be in (0, 1], got {self.strength}")

    def identity(self) -> dict[str, Any]:
        return {**super().identity(), "edit": "img2img", "strength": self.strength, "inpaint": self.inpaint}

    def edit_pipeline(self, kind: str) -> Any:
        """The ``img2img`` or ``inpaint`` pipeline, from the text pipeline's components."""
        if kind not in self._edit_pipes:
            import diffusers

            auto = {"img2img": diffusers.AutoPipelineForImage2Image,
                    "inpaint": diffusers.AutoPipelineForInpainting}[kind]
            pipe = auto.from_pipe(self.load())
            pipe.set_progress_bar_config(disable=not self.progress)
            self._edit_pipes[kind] = pipe
        return self._edit_pipes[kind]

    def edit(self, requests: Sequence, images: Sequence[Image.Image],
             masks: Sequence[np.ndarray | None]) -> Iterator[Image.Image | None]:
        """Yield one edited image per request, in order (None: the safety checker blanked it)."""
        items = list(zip(requests, images, masks, strict=True))
        for start in range(0, len(items), self.batch_size):
            batch = items[start : start + self.batch_size]
            out: list[Image.Image | None] = [None] * len(batch)
            for kind in ("img2img", "inpaint"):
                mine = [i for i, (_, _, m) in enumerate(batch) if self._kind(m) == kind]
                if mine:
                    padded = [batch[i] for i in mine] + [batch[mine[-1]]] * (self.batch_size - len(mine))
                    for i, image in zip(mine, self._edit_batch(kind, padded)):
                        out[i] = image
            yield from out

    def _kind(self, mask: np.ndarray | None) -> str:
        return "inpaint" if self.inpaint and mask is not None else "img2img"

    def _edit_batch(self, kind: str, batch: Sequence[tuple]) -> list[Image.Image | None]:
        size = (self.width, self.height)
        options: dict[str, Any] = {
            "prompt": [r.prompt for r, _, _ in batch],
            "image": [image.convert("RGB").resize(size, Image.Resampling.BICUBIC) for _, image, _ in batch],
            "generator": [torch.Generator("cpu").manual_seed(r.seed) for r, _, _ in batch],
            "num_inference_steps": self.steps,
            "guidance_scale": self.guidance,
            "strength": self.strength,
            "output_type": "pil",
        }
        if kind == "inpaint":
            options |= {"mask_image": [background_mask(m, size) for _, _, m in batch],
                        "height": self.height, "width": self.width}
        if self.negative_prompt:
            options["negative_prompt"] = [self.negative_prompt] * len(batch)
        output = self.edit_pipeline(kind)(**options)
        flags = getattr(output, "nsfw_content_detected", None) or [False] * len(batch)
        _warn_flagged([r for r, _, _ in batch], flags)
        images = output.images
        if kind == "inpaint":  # the object's own pixels back (the VAE's round trip blurs them)
            images = [keep_object(e, s, m) for e, s, m in zip(images, options["image"], options["mask_image"])]
        return [None if flagged else image for image, flagged in zip(images, flags)]


def keep_object(edited: Image.Image, source: Image.Image, repaint: Image.Image) -> Image.Image:
    """``edited`` with ``source``'s pixels wherever ``repaint`` (an inpainting mask) is black."""
    return Image.composite(edited.convert("RGB"), source.resize(edited.size), repaint.resize(edited.size))


def background_mask(mask: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """The inpainting mask of an object mask (float [0, 1]): white (repainted) off the object."""
    repaint = np.where(np.asarray(mask) >= MASK_THRESHOLD, 0, 255).astype(np.uint8)
    return Image.fromarray(repaint, mode="L").resize(size, Image.Resampling.NEAREST)
