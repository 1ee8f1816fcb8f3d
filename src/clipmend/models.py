"""Backbones by name: create a classifier, load its weights, expose features and head.

Every backbone goes through ``create_backbone``: a model trained inside the workflow
is loaded from its checkpoint file exactly as a pretrained one is (timm's
``pretrained_cfg_overlay=dict(file=...)``), and preprocessing comes from the model's
own pretrained config.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)

SOURCES = ("timm",)


@dataclass(frozen=True)
class ModelSpec:
    """One configured model: its timm architecture, family and where its weights live."""

    name: str
    arch: str
    family: str
    source: str = "timm"
    weights: str = "pretrained"  # "train" (trained by the workflow), "pretrained", or a file
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    pretrained_cfg: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, name: str, entry: Mapping[str, Any]) -> "ModelSpec":
        """Build from one ``models:`` config entry."""
        source = entry.get("source", "timm")
        if source not in SOURCES:
            raise ValueError(f"models.{name}.source is {source!r}; valid: {list(SOURCES)}")
        return cls(
            name=name,
            arch=entry["arch"],
            family=entry["family"],
            source=source,
            weights=str(entry.get("weights", "pretrained")),
            kwargs=dict(entry.get("kwargs", {})),
            pretrained_cfg=dict(entry.get("pretrained_cfg", {})),
        )


@dataclass
class Backbone:
    """A loaded classifier split into a feature extractor and its linear head."""

    spec: ModelSpec
    model: nn.Module
    transform: Any

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-logit features (the input of the final linear layer)."""
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)

    def classifier(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The model's own linear head as ``(W, b)``, or None if it has none."""
        head = self.model.get_classifier()
        if not isinstance(head, nn.Linear):
            return None
        bias = head.bias if head.bias is not None else torch.zeros(head.out_features)
        return head.weight.detach().clone(), bias.detach().clone()


def create_model(spec: ModelSpec, num_classes: int, weights_file: str | Path | None = None,
                 pretrained: bool = True) -> nn.Module:
    """Build the timm model of ``spec`` with weights from ``weights_file``, the hub, or none."""
    import timm

    if not timm.is_model(spec.arch):
        raise ValueError(
            f"models.{spec.name}.arch {spec.arch!r} is not a timm model; see timm.list_models()"
        )
    overlay = dict(spec.pretrained_cfg)
    if weights_file is not None:
        weights_file = Path(weights_file)
        if not weights_file.is_file():
            raise FileNotFoundError(
                f"checkpoint for model {spec.name!r} not found at {weights_file}; "
                "train it with the workflow or set models.<name>.weights to an existing file"
            )
        overlay.update(file=str(weights_file), num_classes=num_classes)
    return timm.create_model(
        spec.arch,
        pretrained=pretrained,
        pretrained_cfg_overlay=overlay or None,
        num_classes=num_classes,
        **spec.kwargs,
    )


def model_transform(model: nn.Module) -> Any:
    """The eval preprocessing from the model's own pretrained config."""
    import timm.data

    config = timm.data.resolve_data_config({}, model=model)
    return timm.data.create_transform(**config, is_training=False)


def create_backbone(spec: ModelSpec, num_classes: int, weights_file: str | Path | None) -> Backbone:
    """Load a backbone ready for feature extraction (eval mode)."""
    model = create_model(spec, num_classes, weights_file).eval()
    return Backbone(spec=spec, model=model, transform=model_transform(model))
