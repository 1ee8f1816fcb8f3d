"""CLIP's projection layers as a small trainable module, on features cached before them.

The paper (§5.1) fine-tunes only the projections: ``visual.proj`` of a ViT or the whole
``visual.attnpool`` of a ModifiedResNet, the text tower's ``text_projection``, and the
temperature ``logit_scale``. The encoders are frozen, so what enters the projections is
computed once (``image_pre_features``, ``text_pre_features``) and each training step is a
small matmul (or one attention pool) on the cache. (The released code also trains the text
tower's token and positional embeddings and ``ln_final``; the paper's setting is kept here.)

The pre-projection features come from the model's own forward pass with its projection
taken out for the call (then put back), so they follow every pooling option of open_clip.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from clipmend import _torchvision_fix  # noqa: F401  (before timm/open_clip/diffusers import torchvision)

SUPPORTED = "open_clip CLIP/CustomTextCLIP with a VisionTransformer (visual.proj) or ModifiedResNet (visual.attnpool)"


def _image_head(model) -> tuple[str, torch.Tensor | torch.nn.Module]:
    """('attnpool', module) or ('proj', parameter) of the image tower."""
    visual = getattr(model, "visual", None)
    pool = getattr(visual, "attnpool", None)
    if isinstance(pool, torch.nn.Module):
        return "attnpool", pool
    proj = getattr(visual, "proj", None)
    if isinstance(proj, torch.Tensor):
        return "proj", proj
    raise ValueError(f"image tower {type(visual).__name__} has neither visual.proj nor visual.attnpool; "
                     f"supported: {SUPPORTED}")


def _text_tower(model):
    """The object holding ``text_projection``: the CLIP itself, or ``model.text`` of a CustomTextCLIP."""
    tower = getattr(model, "text", model)
    if not isinstance(getattr(tower, "text_projection", None), torch.Tensor | torch.nn.Linear):
        raise ValueError(f"text tower {type(tower).__name__} has no text_projection; supported: {SUPPORTED}")
    return tower


@contextmanager
def _swapped(owner: torch.nn.Module, name: str, replacement) -> Iterator[None]:
    """Set ``owner.name`` to ``replacement`` for the duration of the block."""
    original = getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _first(out) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out


@torch.no_grad()
def image_pre_features(model, images: torch.Tensor) -> torch.Tensor:
    """What the image projection takes: the pooled token (ViT) or the layer4 map (ModifiedResNet), float32."""
    kind, _ = _image_head(model)
    with _swapped(model.visual, kind, torch.nn.Identity() if kind == "attnpool" else None):
        return _first(model.visual(images)).float()


@torch.no_grad()
def text_pre_features(model, tokens: torch.Tensor) -> torch.Tensor:
    """``ln_final`` output at the end-of-text token, before ``text_projection``, float32."""
    with _swapped(_text_tower(model), "text_projection", None):
        return _first(model.encode_text(tokens)).float()


def _trainable(layer: torch.Tensor | torch.nn.Module) -> torch.nn.Parameter | torch.nn.Module:
    if isinstance(layer, torch.nn.Module):
        return copy.deepcopy(layer).float().requires_grad_(True)
    return torch.nn.Parameter(layer.detach().clone().float())


def _apply(layer: torch.Tensor | torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    return layer(x) if isinstance(layer, torch.nn.Module) else x @ layer


def _write(target: torch.Tensor | torch.nn.Module, source: torch.Tensor | torch.nn.Module) -> None:
    if isinstance(target, torch.nn.Module):
        target.load_state_dict(source.state_dict())
    else:
        target.data.copy_(source.detach())


class Projections(torch.nn.Module):
    """Trainable float32 copies of a CLIP's image projection, text projection and ``logit_scale`` (log 1/τ)."""

    def __init__(self, visual: torch.Tensor | torch.nn.Module, text: torch.Tensor | torch.nn.Module,
                 logit_scale: torch.Tensor):
        super().__init__()
        self.visual = _trainable(visual)
        self.text = _trainable(text)
        self.logit_scale = torch.nn.Parameter(logit_scale.detach().clone().float().reshape(()))

    @classmethod
    def from_clip(cls, model) -> Projections:
        """Copies of ``model``'s projections (the model itself is left untouched)."""
        return cls(_image_head(model)[1], _text_tower(model).text_projection, model.logit_scale)

    def images(self, pre: torch.Tensor) -> torch.Tensor:
        """L2-normalised image embeddings of pre-projection image features."""
        return F.normalize(_apply(self.visual, pre), dim=-1)

    def texts(self, pre: torch.Tensor) -> torch.Tensor:
        """L2-normalised text embeddings of pre-projection text features."""
        return F.normalize(_apply(self.text, pre), dim=-1)

    def scale(self) -> torch.Tensor:
        """The logit scale e^θ = 1/τ."""
        return self.logit_scale.exp()

    @torch.no_grad()
    def load_into(self, model) -> None:
        """Write these projections into an open_clip ``model`` of the same architecture."""
        kind, target = _image_head(model)
        if isinstance(self.visual, torch.nn.Module) != (kind == "attnpool"):
            raise ValueError(f"these projections have a {type(self.visual).__name__} image head but the model's "
                             f"is visual.{kind}; load them into the architecture they came from")
        _write(target, self.visual)
        _write(_text_tower(model).text_projection, self.text)
        model.logit_scale.data.copy_(self.logit_scale.detach().reshape(model.logit_scale.shape))
