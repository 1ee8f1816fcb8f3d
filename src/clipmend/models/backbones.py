"""Backbones by name: build a model, load its weights, expose features and its own head.

Three sources, each a loader in ``LOADERS``:

- ``timm``: a timm architecture (``arch`` may carry a pretrained tag, ``resnet50.tv_in1k``);
  weights from the Hugging Face hub, a local file (timm's
  ``pretrained_cfg_overlay=dict(file=...)``), or trained by the workflow.
- ``open_clip``: a CLIP image tower (``arch`` an open_clip name, ``tag`` its pretrained
  tag, e.g. ``openai``); features are ``encode_image`` embeddings; no classifier.
- ``checkpoint``: a timm architecture filled from a checkpoint file in an official key
  layout (``LAYOUTS``: SwAV, MoCo v2, plain torchvision); with ``weights: pretrained``
  the file is the official ``url``'s name in torch hub's checkpoint folder (where
  ``torch.hub`` itself caches it), downloaded there unless offline.

Preprocessing always comes from the model's own pretrained config. A model trained by
the workflow is loaded from its checkpoint file exactly as a pretrained one is.
``HF_HUB_OFFLINE=1`` means offline for every source: missing weights then fail at once
with a ``WeightsNotFound`` naming the model, where the weights were looked for and the
config key that points to a local file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from clipmend import _torchvision_fix  # noqa: F401  (before timm/open_clip import torchvision)
from clipmend.io import reading
from clipmend.models.checkpoints import LAYOUTS, unwrap
from clipmend.models.spec import ModelSpec, WeightsNotFound

log = logging.getLogger(__name__)

@dataclass
class Backbone:
    """A loaded model split into a feature extractor and, if it has one, its linear head."""

    spec: ModelSpec
    model: nn.Module
    transform: Any
    encode: Callable[[torch.Tensor], torch.Tensor]
    head: tuple[torch.Tensor, torch.Tensor] | None = None

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-logit features (the input of the final linear layer)."""
        return self.encode(x)

    def classifier(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The model's own linear head over the data set's classes as ``(W, b)``, or None."""
        return self.head


# ---------------------------------------------------------------- offline & errors


def offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set: no source may download anything."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _how_to_provide(spec: ModelSpec) -> str:
    fix = f"set models.{spec.name}.weights to a local checkpoint file"
    return fix + (", or unset HF_HUB_OFFLINE to download them" if offline() else "")


def _missing(
    spec: ModelSpec, what: str, where: str, err: BaseException | None = None
) -> WeightsNotFound:
    state = "downloads are off (HF_HUB_OFFLINE=1)" if offline() else f"download failed: {err}"
    return WeightsNotFound(
        f"model {spec.name!r}: {what} not found in {where} and {state}; {_how_to_provide(spec)}"
    )


def _local_file(spec: ModelSpec, path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        hint = (
            "train it with the workflow"
            if spec.weights == "train"
            else f"set models.{spec.name}.weights to an existing file"
        )
        raise WeightsNotFound(f"model {spec.name!r}: checkpoint {path} does not exist; {hint}")
    return path


def _hf_cache() -> str:
    from huggingface_hub.constants import HF_HUB_CACHE

    return str(HF_HUB_CACHE)


# ---------------------------------------------------------------- timm


def _timm() -> Any:
    import timm

    import clipmend.models.resnet_wide  # noqa: F401 - registers SwAV's wide ResNets with timm

    return timm


def _check_timm_arch(spec: ModelSpec) -> Any:
    timm = _timm()
    if not timm.is_model(spec.arch):
        raise ValueError(
            f"models.{spec.name}.arch {spec.arch!r} is not a timm model; "
            "see timm.list_models() (tags: timm.list_pretrained())"
        )
    return timm


def create_model(
    spec: ModelSpec,
    num_classes: int | None,
    weights_file: str | Path | None = None,
    pretrained: bool = True,
) -> nn.Module:
    """Build timm model ``spec.arch`` with weights from ``weights_file``, the hub, or none.

    ``num_classes`` None keeps the classifier of the weights: the one stored in
    ``weights_file`` (e.g. a user's 3-class fine-tune), else the pretrained config's (e.g.
    1000 for an ImageNet model, 0 for DINO); a number sets it (weights ``train``).
    """
    timm = _check_timm_arch(spec)
    overlay = dict(spec.pretrained_cfg)
    kwargs = dict(spec.kwargs)
    if weights_file is not None:
        overlay["file"] = str(_local_file(spec, weights_file))
        if num_classes is None:
            num_classes = checkpoint_num_classes(spec, overlay["file"])
        else:
            _tensor_shapes(overlay["file"])  # a truncated or corrupt file fails here, named
        if num_classes is not None:
            overlay["num_classes"] = num_classes
    elif pretrained:
        _check_timm_weights(spec, timm.models.get_pretrained_cfg(spec.arch))
    if num_classes is not None:
        kwargs.setdefault("num_classes", num_classes)
    try:
        return timm.create_model(
            spec.arch, pretrained=pretrained, pretrained_cfg_overlay=overlay or None, **kwargs
        )
    except OSError as err:
        if weights_file is not None or not pretrained:
            raise
        raise _missing(
            spec, f"timm weights for {spec.arch!r}", f"the Hugging Face cache {_hf_cache()}", err
        ) from None


def checkpoint_num_classes(spec: ModelSpec, path: str | Path) -> int | None:
    """Classes of the classifier stored in timm checkpoint ``path`` (0: none stored).

    None when the architecture names no classifier. A ``kwargs.num_classes`` other than
    the file's (or 0, which drops the stored head) is a clear error.
    """
    cfg = _timm().models.get_pretrained_cfg(spec.arch)
    classifier = cfg.classifier if cfg is not None else None
    if isinstance(classifier, (list, tuple)):
        classifier = classifier[0] if classifier else None
    if not classifier:
        return None
    shape = _tensor_shapes(path).get(f"{classifier}.weight")
    found = int(shape[0]) if shape else 0
    wanted = spec.kwargs.get("num_classes")
    if wanted is not None and int(wanted) not in (0, found):
        raise ValueError(
            f"model {spec.name!r}: models.{spec.name}.kwargs.num_classes is {wanted} but "
            f"{path} holds a classifier ({classifier}) over {found} classes; "
            "remove kwargs.num_classes (or set it to 0 to drop the stored classifier)"
        )
    return found


WEIGHTS_FIX = ("if the workflow trained it (weights: train), re-run snakemake with "
               "`--forcerun {path}`; else replace it with an intact copy")


def _tensor_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Each tensor's shape in a checkpoint file (wrapper and ``module.`` prefix removed)."""
    if str(path).endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            return {k.removeprefix("module."): tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    try:  # memory-mapped: only the shapes are read
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # a legacy (non-zip) file cannot be memory-mapped
        with reading(path, WEIGHTS_FIX):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, Mapping):
        return {}
    return {
        k.removeprefix("module."): tuple(v.shape)
        for k, v in unwrap(checkpoint).items()
        if isinstance(v, torch.Tensor)
    }


def _check_timm_weights(spec: ModelSpec, cfg: Any) -> None:
    """Fail at once, before building the model: timm has no weights, or offline none are cached."""
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        raise WeightsNotFound(
            f"model {spec.name!r}: timm has no pretrained weights for {spec.arch!r} "
            f"(tags: timm.list_pretrained({spec.arch.split('.')[0] + '.*'!r})); "
            f"set models.{spec.name}.weights to a local checkpoint file"
        )
    if not offline():
        return
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo, _, revision = cfg.hf_hub_id.partition("@")
        names = (
            [cfg.hf_hub_filename]
            if cfg.hf_hub_filename
            else ["model.safetensors", "pytorch_model.bin"]
        )
        if not any(
            isinstance(try_to_load_from_cache(repo, n, revision=revision or None), str)
            for n in names
        ):
            raise _missing(
                spec, f"timm weights {cfg.hf_hub_id!r}", f"the Hugging Face cache {_hf_cache()}"
            )
    elif not official_checkpoint_path(cfg.url).is_file():  # timm caches URL downloads there too
        raise _missing(
            spec, f"timm weights {cfg.url}", str(official_checkpoint_path(cfg.url).parent)
        )


def model_transform(model: nn.Module) -> Any:
    """The eval preprocessing from the timm model's own pretrained config."""
    import timm.data

    config = timm.data.resolve_data_config({}, model=model)
    return timm.data.create_transform(**config, is_training=False)


def _own_head(
    spec: ModelSpec, model: nn.Module, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor] | None:
    head = model.get_classifier()
    if not isinstance(head, nn.Linear):
        return None
    if head.out_features != num_classes:
        log.info(
            "model %s: its own head has %d classes, the data set %d; no own classifier",
            spec.name,
            head.out_features,
            num_classes,
        )
        return None
    bias = head.bias if head.bias is not None else torch.zeros(head.out_features)
    return head.weight.detach().clone(), bias.detach().clone()


def _timm_backbone(spec: ModelSpec, num_classes: int, weights_file: str | Path | None) -> Backbone:
    own_classes = num_classes if spec.weights == "train" else None
    model = create_model(spec, own_classes, weights_file).eval()
    return Backbone(
        spec,
        model,
        model_transform(model),
        encode=lambda x: model.forward_head(model.forward_features(x), pre_logits=True),
        head=_own_head(spec, model, num_classes),
    )


# ---------------------------------------------------------------- open_clip


def _open_clip_backbone(
    spec: ModelSpec, num_classes: int, weights_file: str | Path | None
) -> Backbone:
    import open_clip

    from clipmend.clip.loading import register_local_configs

    register_local_configs()
    if spec.arch not in open_clip.list_models():
        raise ValueError(
            f"models.{spec.name}.arch {spec.arch!r} is not an open_clip model; "
            "see open_clip.list_models()"
        )
    if weights_file is not None:
        pretrained = str(_local_file(spec, weights_file))
    else:
        pretrained = spec.tag
        cfg = open_clip.get_pretrained_cfg(spec.arch, spec.tag)
        if not cfg:
            raise ValueError(
                f"models.{spec.name}.tag {spec.tag!r} is not a pretrained tag of {spec.arch}; "
                f"valid: {open_clip.list_pretrained_tags_by_model(spec.arch)}"
            )
        try:
            open_clip.download_pretrained(cfg)
        except (OSError, RuntimeError) as err:
            where = f"the Hugging Face cache {_hf_cache()} ({cfg.get('hf_hub') or cfg.get('url')})"
            raise _missing(spec, f"open_clip weights {spec.arch}/{spec.tag}", where, err) from None
    model, _, preprocess = open_clip.create_model_and_transforms(spec.arch, pretrained=pretrained)
    model.eval()
    return Backbone(spec, model, preprocess, encode=lambda x: model.encode_image(x).float())


# ---------------------------------------------------------------- official checkpoints


def official_checkpoint_path(url: str) -> Path:
    """Where ``torch.hub`` caches the checkpoint published at ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def _fetch_official(spec: ModelSpec) -> Path:
    path = official_checkpoint_path(spec.url)
    if path.is_file():
        return path
    what = f"checkpoint {path.name} (published at {spec.url})"
    if offline():
        raise _missing(spec, what, str(path.parent))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(spec.url, str(path), progress=False)
    except OSError as err:
        raise _missing(spec, what, str(path.parent), err) from None
    return path


def load_checkpoint_state(spec: ModelSpec, path: Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint file and map its keys from ``spec.layout`` to timm/torchvision keys."""
    with reading(path, WEIGHTS_FIX):
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, Mapping):
        raise ValueError(
            f"model {spec.name!r}: {path} holds a {type(checkpoint).__name__}, not a state dict"
        )
    return LAYOUTS[spec.layout](checkpoint)


def _checkpoint_backbone(
    spec: ModelSpec, num_classes: int, weights_file: str | Path | None
) -> Backbone:
    path = _local_file(spec, weights_file) if weights_file is not None else _fetch_official(spec)
    model = create_model(spec, 0, pretrained=False).eval()
    classifier = model.pretrained_cfg.get("classifier", "fc")
    state = {
        k: v
        for k, v in load_checkpoint_state(spec, path).items()
        if not k.startswith(classifier + ".")
    }
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"model {spec.name!r}: {path} (layout {spec.layout!r}) does not fit {spec.arch}: "
            f"{len(missing)} missing keys {missing[:3]}, "
            f"{len(unexpected)} unexpected {unexpected[:3]}; "
            f"check models.{spec.name}.arch and .layout (valid layouts: {sorted(LAYOUTS)})"
        )
    log.info(
        "model %s: loaded %d tensors from %s (layout %s)", spec.name, len(state), path, spec.layout
    )
    return Backbone(
        spec,
        model,
        model_transform(model),
        encode=lambda x: model.forward_head(model.forward_features(x), pre_logits=True),
    )


LOADERS: dict[str, Callable[[ModelSpec, int, str | Path | None], Backbone]] = {
    "timm": _timm_backbone,
    "open_clip": _open_clip_backbone,
    "checkpoint": _checkpoint_backbone,
}


def create_backbone(
    spec: ModelSpec,
    num_classes: int,
    weights_file: str | Path | None,
    device: str | torch.device = "cpu",
) -> Backbone:
    """Load a backbone ready for feature extraction (eval mode), on ``device``.

    ``weights_file`` overrides where the weights come from (a trained or configured
    checkpoint); None means ``spec.weights`` is ``pretrained``. The backbone keeps its
    own classifier only if it is linear over exactly ``num_classes`` classes; that head
    stays on the host, in float32, for deciding failures.
    """
    from clipmend.devices import resolve_device

    spec.check()
    if weights_file is None and spec.weights == "train":
        raise ValueError(
            f"model {spec.name!r} has weights 'train' but no trained checkpoint was given"
        )
    if weights_file is None and spec.weights != "pretrained":
        weights_file = spec.weights
    backbone = LOADERS[spec.source](spec, num_classes, weights_file)
    backbone.model.to(resolve_device(device))
    return backbone
