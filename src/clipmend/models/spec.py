"""A configured model: which library builds it, from which weights (pure, no torch)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SOURCES = ("timm", "open_clip", "checkpoint")
LAYOUT_NAMES = ("plain", "swav", "moco")  # checkpoint key layouts, see clipmend.models.checkpoints


class WeightsNotFound(FileNotFoundError):
    """A model's weights are neither local nor downloadable."""


@dataclass(frozen=True)
class ModelSpec:
    """One configured model: architecture, family, library and where its weights live."""

    name: str
    arch: str
    family: str
    source: str = "timm"
    weights: str = "pretrained"  # "train" (trained by the workflow), "pretrained", or a file
    tag: str | None = None  # open_clip pretrained tag
    layout: str = "plain"  # checkpoint key layout (source checkpoint)
    url: str | None = None  # official checkpoint (source checkpoint, weights pretrained)
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    pretrained_cfg: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, name: str, entry: Mapping[str, Any]) -> ModelSpec:
        """Build from one ``models:`` config entry; reject inconsistent entries."""
        spec = cls(
            name=name,
            arch=entry["arch"],
            family=entry["family"],
            source=entry.get("source", "timm"),
            weights=str(entry.get("weights", "pretrained")),
            tag=entry.get("tag"),
            layout=entry.get("layout", "plain"),
            url=entry.get("url"),
            kwargs=dict(entry.get("kwargs", {})),
            pretrained_cfg=dict(entry.get("pretrained_cfg", {})),
        )
        spec.check()
        return spec

    def check(self) -> None:
        """Raise ``ValueError`` naming the bad key of an inconsistent spec."""
        key = f"models.{self.name}"
        if self.source not in SOURCES:
            raise ValueError(f"{key}.source is {self.source!r}; valid: {list(SOURCES)}")
        if self.layout not in LAYOUT_NAMES:
            raise ValueError(f"{key}.layout is {self.layout!r}; valid: {sorted(LAYOUT_NAMES)}")
        if self.weights == "train" and self.source != "timm":
            raise ValueError(f"{key}.weights is 'train', which only source timm supports")
        if self.weights == "pretrained" and self.source == "open_clip" and not self.tag:
            raise ValueError(
                f"{key}.tag is required for open_clip pretrained weights (e.g. openai)"
            )
        if self.weights == "pretrained" and self.source == "checkpoint" and not self.url:
            raise ValueError(
                f"{key}.url is required for checkpoint weights 'pretrained'; "
                "or set weights to a local checkpoint file"
            )
