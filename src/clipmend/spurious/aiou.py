"""GradCAM of a CLIP image encoder and the adjusted IoU (AIoU) of Yang et al. (2023, §5.3).

IoU(M, B) = Σ min(M, B) / Σ max(M, B) for an explanation map M and an object mask B,
both in [0, 1]; AIoU = IoU(M_y, B) / (IoU(M_y, B) + max_{y' != y} IoU(M_y', B)). Where a
denominator is 0 (an empty map and mask; every map disjoint from the mask) the score is
0: nothing of the object is explained.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def soft_iou(maps: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Σ min / Σ max over the last two axes: one IoU per map of ``maps`` (..., H, W) vs (H, W)."""
    maps, mask = np.asarray(maps, dtype=np.float64), np.asarray(mask, dtype=np.float64)
    if maps.shape[-2:] != mask.shape[-2:]:
        raise ValueError(f"maps {maps.shape} and mask {mask.shape} differ in (H, W)")
    inter = np.minimum(maps, mask).sum(axis=(-2, -1))
    union = np.maximum(maps, mask).sum(axis=(-2, -1))
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def aiou(maps: np.ndarray, mask: np.ndarray, y: int) -> float:
    """AIoU of class maps (C, H, W) against the object's mask (H, W) for the true class ``y``."""
    maps = np.asarray(maps)
    if maps.ndim != 3 or len(maps) < 2:
        raise ValueError(f"maps must be (C >= 2, H, W), got {maps.shape}")
    if not 0 <= y < len(maps):
        raise ValueError(f"class {y} is not in [0, {len(maps)})")
    return float(aiou_batch(maps[None], np.asarray(mask)[None], [y])[0])


def aiou_batch(maps: np.ndarray, masks: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """AIoU per image: maps (N, C, H, W), masks (N, H, W), true labels (N,) -> (N,)."""
    maps, masks, labels = np.asarray(maps), np.asarray(masks), np.asarray(labels)
    if maps.ndim != 4 or maps.shape[1] < 2 or masks.shape != (len(maps), *maps.shape[2:]):
        raise ValueError(f"need maps (N, C >= 2, H, W) and masks (N, H, W), got {maps.shape}, {masks.shape}")
    if labels.shape != (len(maps),):
        raise ValueError(f"{len(maps)} images but labels of shape {labels.shape}")
    ious = soft_iou(maps, masks[:, None])  # (N, C)
    rows = np.arange(len(maps))
    own = ious[rows, labels]
    others = ious.copy()
    others[rows, labels] = -np.inf
    den = own + others.max(axis=1)
    return np.divide(own, den, out=np.zeros_like(own), where=den > 0)


def mean_aiou(
    maps: np.ndarray, masks: np.ndarray, labels: Sequence[int], groups: Sequence | None = None
) -> pd.DataFrame:
    """Mean AIoU over all images (group ``all``) and, with ``groups``, per group: group, n, aiou."""
    scores = aiou_batch(maps, masks, labels)
    rows = [("all", len(scores), float(scores.mean()) if len(scores) else float("nan"))]
    if groups is not None:
        groups = pd.Series(list(groups))
        if len(groups) != len(scores):
            raise ValueError(f"{len(scores)} images but {len(groups)} groups")
        by = pd.Series(scores).groupby(groups.to_numpy(), sort=True)
        rows += [(g, len(s), float(s.mean())) for g, s in by]
    return pd.DataFrame(rows, columns=["group", "n", "aiou"])


# ---------------------------------------------------------------- GradCAM


def _target(visual: Any) -> tuple[Any, bool]:
    """The layer GradCAM reads and whether it holds ViT tokens (else NCHW feature maps).

    ViT: the input of the last residual block. The class token is pooled, so the last
    block's *output* patch tokens get no gradient; its input patch tokens reach the class
    token through the block's attention (pytorch-grad-cam's ``blocks[-1].norm1``).
    ModifiedResNet: ``layer4``.
    """
    blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
    if blocks is not None and len(blocks):
        return blocks[-1], True
    if hasattr(visual, "layer4"):
        return visual.layer4, False
    raise TypeError(
        f"GradCAM supports open_clip's VisionTransformer and ModifiedResNet, not {type(visual).__name__}"
    )


def _grid_tokens(tokens: Any, images: Any, visual: Any) -> Any:
    """ViT tokens (N, L, D) -> patch-token maps (N, D, h, w), prefix tokens dropped."""
    if not getattr(visual.transformer, "batch_first", True):
        tokens = tokens.transpose(0, 1)
    patch = visual.patch_size
    h, w = images.shape[-2] // patch[0], images.shape[-1] // patch[1]
    prefix = tokens.shape[1] - h * w
    if prefix < 0:
        raise ValueError(f"{tokens.shape[1]} tokens are fewer than the {h}x{w} patch grid")
    return tokens[:, prefix:].reshape(len(tokens), h, w, -1).permute(0, 3, 1, 2)


def _gradcam_chunk(visual: Any, images: Any, text: Any, logit_scale: float) -> tuple[Any, Any]:
    """GradCAM maps (n, C, H, W) and logits (n, C) of one chunk of images."""
    import torch
    import torch.nn.functional as F

    layer, is_vit = _target(visual)
    seen = {}

    def grab(value):  # a new leaf: gradients stop here, and frozen weights don't matter
        seen["act"] = value.detach().requires_grad_(True)
        return seen["act"]

    if is_vit:
        handle = layer.register_forward_pre_hook(lambda m, args: (grab(args[0]), *args[1:]))
    else:
        handle = layer.register_forward_hook(lambda m, args, out: grab(out))
    try:
        with torch.enable_grad():
            emb = visual(images)
            emb = emb[0] if isinstance(emb, tuple) else emb
            logits = logit_scale * F.normalize(emb.float(), dim=-1) @ text.T
            act = seen["act"]
            cams = []
            for c in range(logits.shape[1]):
                (grad,) = torch.autograd.grad(logits[:, c].sum(), act, retain_graph=c + 1 < logits.shape[1])
                a, g = (_grid_tokens(t, images, visual) for t in (act, grad)) if is_vit else (act, grad)
                weights = g.float().mean(dim=(2, 3), keepdim=True)
                cams.append(torch.relu((weights * a.float()).sum(dim=1)))
    finally:
        handle.remove()
    cams = F.interpolate(
        torch.stack(cams, dim=1).detach(), size=images.shape[-2:], mode="bilinear", align_corners=False
    )
    low = cams.amin(dim=(2, 3), keepdim=True)
    span = cams.amax(dim=(2, 3), keepdim=True) - low
    cams = torch.where(span > 0, (cams - low) / span.clamp_min(1e-12), torch.zeros_like(cams))
    return cams, logits.detach()


def gradcam_clip(
    model: Any,
    images: Any,
    class_embeddings: Any,
    logit_scale: float,
    batch_size: int = 32,
    return_logits: bool = False,
) -> Any:
    """GradCAM maps (N, C, H, W) in [0, 1] of an open_clip image encoder, one per class logit.

    ``images``: a preprocessed (N, 3, H, W) tensor; ``class_embeddings`` (C, D), the class
    text embeddings (the logit of class c is ``logit_scale * normalised image embedding .
    class_embeddings[c]``). Per class: ReLU(Σ_k mean(∂logit/∂A_k) A_k) over the target
    layer (see ``_target``), bilinearly upsampled to (H, W) and min-max scaled per map (a
    constant map becomes 0). The encoder runs in eval mode; its weights get no gradients.
    Returns a float32 CPU tensor, and with ``return_logits`` also the logits (N, C).
    """
    import torch

    visual = model.visual
    weight = next(visual.parameters())
    text = torch.as_tensor(class_embeddings).to(weight.device, torch.float32)
    was_training = visual.training
    visual.eval()
    try:
        chunks = [
            _gradcam_chunk(visual, chunk.to(weight.device, weight.dtype), text, float(logit_scale))
            for chunk in torch.as_tensor(images).split(batch_size)
        ]
    finally:
        visual.train(was_training)
    maps = torch.cat([m for m, _ in chunks]).float().cpu()
    if return_logits:
        return maps, torch.cat([lg for _, lg in chunks]).float().cpu()
    return maps


def center_crop_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """A mask (H, W) through CLIP's geometry: shorter side to ``size`` (bilinear, antialiased), centre crop.

    open_clip's default preprocessing resizes the shorter side and centre-crops, so a
    mask must take the same path to line up with the GradCAM maps of the image.
    """
    import torch
    import torch.nn.functional as F

    h, w = mask.shape
    # torchvision's Resize(size) and CenterCrop(size) arithmetic, which open_clip uses
    new_h, new_w = (size, int(size * w / h)) if h <= w else (int(size * h / w), size)
    resized = F.interpolate(
        torch.as_tensor(np.asarray(mask, dtype=np.float32))[None, None], size=(new_h, new_w),
        mode="bilinear", align_corners=False, antialias=True,
    )[0, 0]
    top, left = int(round((new_h - size) / 2)), int(round((new_w - size) / 2))
    return resized[top:top + size, left:left + size].clamp(0, 1).numpy()
