"""Official checkpoint key layouts (SwAV, MoCo v2, plain torchvision) mapped to timm's keys."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from clipmend.models.spec import LAYOUT_NAMES


def unwrap(checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
    """The state dict inside a checkpoint (under ``state_dict`` or ``model``), or the checkpoint itself."""
    for key in ("state_dict", "model"):
        if key in checkpoint and isinstance(checkpoint[key], Mapping):
            return checkpoint[key]
    return checkpoint


def _plain_layout(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """torchvision keys, as DINO's ResNet-50 checkpoint has them."""
    return dict(unwrap(checkpoint))


def _swav_layout(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """SwAV: ``module.``-prefixed torchvision keys plus a projection head and prototypes."""
    state = {k.removeprefix("module."): v for k, v in unwrap(checkpoint).items()}
    return {k: v for k, v in state.items() if not k.startswith(("projection_head.", "prototypes."))}


def _moco_layout(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """MoCo v2: the query encoder ``module.encoder_q.*`` without its MLP head ``fc``."""
    prefix = "module.encoder_q."
    return {
        k[len(prefix) :]: v
        for k, v in unwrap(checkpoint).items()
        if k.startswith(prefix) and not k.startswith(prefix + "fc.")
    }


LAYOUTS: dict[str, Callable[[Mapping[str, Any]], dict[str, torch.Tensor]]] = {
    "plain": _plain_layout,
    "swav": _swav_layout,
    "moco": _moco_layout,
}

assert tuple(LAYOUTS) == LAYOUT_NAMES
