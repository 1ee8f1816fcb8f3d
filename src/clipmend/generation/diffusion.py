"""Text-to-image generation with Hugging Face diffusers (Stable Diffusion v1.5 by default).

``model`` is a hub id or a local directory written by ``DiffusionPipeline.save_pretrained``.
A hub model already in the local Hugging Face cache loads from there without touching the
network; a model that is neither local nor cached fails at once, naming the model, when
the hub is unreachable or ``HF_HUB_OFFLINE=1`` (instead of half a minute of retries).

Every image gets its own CPU ``torch.Generator`` seeded with the request's seed, so its
starting noise depends neither on its batch mates nor on the device. On the CPU, batched
images match images generated alone up to float rounding (at most 2 of 255 per pixel).

The safety checker is whatever the pipeline ships: SD v1.5 from the hub has one. Its
flagged (blacked-out) images are yielded as None, so ``generate_set`` retries them with a
new seed or drops them, and no black image trains a head; pipelines saved without one,
such as the tiny test pipeline (``requires_safety_checker=False``), run none.
"""

from __future__ import annotations

import logging
import socket
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

import torch
from huggingface_hub import constants, try_to_load_from_cache
from huggingface_hub.utils import HFValidationError, validate_repo_id
from PIL import Image

from clipmend import _torchvision_fix  # noqa: F401  (before timm/open_clip/diffusers import torchvision)
from clipmend.generation.registry import register_generator
from clipmend.generation.requests import ImageRequest

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _sdpa() -> Any:
    from diffusers.models.attention_processor import AttnProcessor2_0

    return AttnProcessor2_0()


def _eager() -> Any:
    from diffusers.models.attention_processor import AttnProcessor

    return AttnProcessor()


ATTENTION = {"sdpa": _sdpa, "eager": _eager}
HUB_PROBE_TIMEOUT_S = 2.0


@register_generator("diffusers")
@dataclass
class DiffusersGenerator:
    """A diffusers text-to-image pipeline, loaded on first use."""

    name: ClassVar[str] = "diffusers"

    model: str = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    pipeline: str = "auto"  # AutoPipelineForText2Image, or a diffusers pipeline class name
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"  # auto (float16 on cuda, float32 on cpu) | float32 | float16 | bfloat16
    steps: int = 50
    guidance: float = 7.5
    scheduler: str | None = None  # a diffusers scheduler class name; None: the pipeline's own
    height: int = 512
    width: int = 512
    negative_prompt: str = ""
    batch_size: int = 8
    attention_slicing: bool = False  # torch>=2 already uses memory-efficient SDPA attention
    progress: bool = False
    # run settings (config generator.attention, .channels_last, .compile), not in identity():
    # they change how fast an image is made, and its pixels by float rounding at most
    attention: str = "sdpa"  # sdpa: torch's scaled_dot_product_attention | eager: diffusers' matmul one
    channels_last: bool = False  # UNet and VAE weights in channels-last memory format
    compile: bool = False  # torch.compile the UNet (the first batch pays for compiling)
    _pipe: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.device = _resolve_device(self.device)
        self.dtype = _resolve_dtype(self.dtype, self.device)
        self.guidance = float(self.guidance)
        if self.attention not in ATTENTION:
            raise ValueError(f"generator.attention is {self.attention!r}; valid: {sorted(ATTENTION)}")
        for key in ("steps", "height", "width", "batch_size"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"diffusers generator: {key} must be an integer >= 1, got {value!r}"
                )

    def identity(self) -> dict[str, Any]:
        """The settings that determine the pixels (batch size too: batches are padded to it)."""
        return {
            "model": self.model,
            "pipeline": self.pipeline,
            "scheduler": self.scheduler or "default",
            "steps": self.steps,
            "guidance": self.guidance,
            "height": self.height,
            "width": self.width,
            "negative_prompt": self.negative_prompt,
            "dtype": self.dtype,
            "batch_size": self.batch_size,
        }

    def generate(self, requests: Sequence[ImageRequest]) -> Iterator[Image.Image | None]:
        """Yield one image per request, in order, ``batch_size`` prompts per pipeline call (None: blanked).

        A short batch is padded to ``batch_size`` with copies of its last request, whose
        images are dropped: batched matmuls round by the batch's shape, so an image then
        depends only on its request and the batch size, and a resumed run that batches the
        missing images differently writes the same bytes as an undisturbed one.
        """
        for start in range(0, len(requests), self.batch_size):
            batch = list(requests[start : start + self.batch_size])
            padded = batch + [batch[-1]] * (self.batch_size - len(batch))
            yield from self._generate_batch(self.load(), padded)[: len(batch)]

    def load(self) -> Any:
        """The diffusers pipeline, loaded and moved to the device on the first call."""
        if self._pipe is None:
            self._pipe = self._build_pipeline()
        return self._pipe

    def _build_pipeline(self) -> Any:
        pipeline_cls = pipeline_class(self.pipeline)
        scheduler_cls = scheduler_class(self.scheduler) if self.scheduler else None
        source, local_only = locate_model(self.model)
        log.info(
            "loading %s from %s on %s (%s)", pipeline_cls.__name__, source, self.device, self.dtype
        )
        try:
            pipe = pipeline_cls.from_pretrained(
                source,
                dtype=DTYPES[self.dtype],
                local_files_only=local_only,
                cache_dir=constants.HF_HUB_CACHE,
            )
        except OSError as err:
            raise OSError(f"could not load diffusers model {self.model!r}: {err}") from err
        if scheduler_cls is not None:
            pipe.scheduler = scheduler_cls.from_config(pipe.scheduler.config)
        if self.attention_slicing:
            pipe.enable_attention_slicing()
        pipe.set_progress_bar_config(disable=not self.progress)
        pipe = pipe.to(self.device)
        self._speed_up(pipe)
        return pipe

    def _speed_up(self, pipe: Any) -> None:
        """Apply the run settings: attention kernel, memory format, torch.compile."""
        processor = ATTENTION[self.attention]()
        models = [m for m in (getattr(pipe, "unet", None), getattr(pipe, "vae", None)) if m is not None]
        for model in models:
            if not self.attention_slicing and hasattr(model, "set_attn_processor"):
                model.set_attn_processor(processor)
            if self.channels_last:
                model.to(memory_format=torch.channels_last)
        if self.compile and getattr(pipe, "unet", None) is not None:
            pipe.unet = torch.compile(pipe.unet)
        log.info("attention %s, channels_last %s, compile %s", self.attention, self.channels_last,
                 self.compile)

    def _generate_batch(self, pipe: Any, batch: Sequence[ImageRequest]) -> list[Image.Image | None]:
        options: dict[str, Any] = {
            "prompt": [r.prompt for r in batch],
            "generator": [torch.Generator("cpu").manual_seed(r.seed) for r in batch],
            "num_inference_steps": self.steps,
            "guidance_scale": self.guidance,
            "height": self.height,
            "width": self.width,
            "output_type": "pil",
        }
        if self.negative_prompt:
            options["negative_prompt"] = [self.negative_prompt] * len(batch)
        output = pipe(**options)
        flags = getattr(output, "nsfw_content_detected", None) or [False] * len(batch)
        _warn_flagged(batch, flags)
        return [None if flagged else image for image, flagged in zip(output.images, flags)]


def pipeline_class(name: str) -> Any:
    """The diffusers pipeline class called ``name`` ("auto": AutoPipelineForText2Image)."""
    import diffusers

    if name == "auto":
        return diffusers.AutoPipelineForText2Image
    cls = getattr(diffusers, name, None)
    if not _is_subclass(cls, diffusers.DiffusionPipeline):
        raise ValueError(
            f"unknown diffusers pipeline {name!r}; valid: 'auto' or a diffusers pipeline class "
            "such as 'StableDiffusionPipeline' or 'StableDiffusionXLPipeline'"
        )
    return cls


def scheduler_class(name: str) -> Any:
    """The diffusers scheduler class called ``name``."""
    import diffusers

    cls = getattr(diffusers, name, None)
    if not _is_subclass(cls, diffusers.SchedulerMixin):
        valid = [
            n
            for n in sorted(dir(diffusers))
            if n.endswith("Scheduler")
            and _is_subclass(getattr(diffusers, n), diffusers.SchedulerMixin)
        ]
        raise ValueError(f"unknown diffusers scheduler {name!r}; valid: {valid}")
    return cls


def _is_subclass(obj: Any, base: type) -> bool:
    return isinstance(obj, type) and issubclass(obj, base)


def locate_model(model: str) -> tuple[str, bool]:
    """Where to load ``model`` from, and whether to stay off the network."""
    local = Path(model).expanduser()
    if local.is_dir():
        if not (local / "model_index.json").is_file():
            raise FileNotFoundError(
                f"diffusers model directory {str(local)!r} has no model_index.json; point "
                "generator.model at a directory written by DiffusionPipeline.save_pretrained()"
            )
        return str(local), True
    if not _is_repo_id(model):
        raise FileNotFoundError(
            f"diffusers model directory {model!r} does not exist; set generator.model to a "
            "directory written by DiffusionPipeline.save_pretrained() or to a hub id such as "
            "'stable-diffusion-v1-5/stable-diffusion-v1-5'"
        )
    if _in_hub_cache(model):
        return model, True
    if _hub_unreachable():
        raise FileNotFoundError(
            f"diffusers model {model!r} is neither a local directory nor in the Hugging Face "
            "cache, and the hub is offline or unreachable. Download it where there is network "
            f"(`hf download {model}` into a shared HF_HOME), or save it with save_pretrained() "
            "and set generator.model to that local directory"
        )
    return model, False


def _is_repo_id(model: str) -> bool:
    try:
        validate_repo_id(model)
    except HFValidationError:
        return False
    return True


def _in_hub_cache(repo_id: str) -> bool:
    found = try_to_load_from_cache(repo_id, "model_index.json", cache_dir=constants.HF_HUB_CACHE)
    return isinstance(found, str)


def _hub_unreachable() -> bool:
    """True when HF_HUB_OFFLINE is set or the hub endpoint cannot be reached quickly."""
    if constants.HF_HUB_OFFLINE:
        return True
    if urllib.request.getproxies().get("https"):
        return False  # reachable only through the proxy: let huggingface_hub try
    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=HUB_PROBE_TIMEOUT_S).close()
    except OSError:
        return True
    return False


def _resolve_device(device: str) -> str:
    from clipmend.devices import resolve_device

    try:
        return str(resolve_device(device))
    except RuntimeError as err:
        raise ValueError(str(err)) from None


def _resolve_dtype(dtype: str, device: str) -> str:
    if dtype == "auto":
        return "float32" if device == "cpu" else "float16"
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; valid: 'auto', {sorted(DTYPES)}")
    return dtype


def _warn_flagged(batch: Sequence[ImageRequest], flags: Sequence[bool] | None) -> None:
    for request, flagged in zip(batch, flags or []):
        if flagged:
            log.warning(
                "safety checker blanked the image for %r (seed %d)", request.prompt, request.seed
            )
