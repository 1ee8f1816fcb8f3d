"""The paper's 40 models (its Table 5), each resolved to a loader: a ``models:`` config entry.

``PAPER_MODELS`` maps the paper's model names to entries of the same shape as a
config's ``models:`` section (see ``clipmend.models.spec.ModelSpec``); the paper configs
name them with ``models: paper`` (``clipmend.config.ZOOS``). Pure Python, no torch. Where
timm 1.0.31 lacks the paper's weights, the closest timm weights stand in:

- EfficientNet: timm's own ``efficientnet_b6..b8`` and ``efficientnet_l2`` have no
  weights, so every EfficientNet uses Google's original weights as ported by timm
  (``tf_efficientnet_bN.aa_in1k``; b8 ``ra_in1k``; l2 ``ns_jft_in1k_475``).
- ``vit_base_resnet26d_224`` / ``vit_base_resnet50d_224``: still timm architectures but
  never released with weights; stand-ins are the ResNet-hybrid ViTs with ImageNet-1k
  heads: ``vit_small_r26_s32_224.augreg_in21k_ft_in1k`` (ResNet-26 stem, ViT-S) and
  ``vit_base_r50_s16_384.orig_in21k_ft_in1k`` (ResNet-50 stem, ViT-B, 384 px).
- ``vit_large_patch32_224``: timm's only weights are ImageNet-21k without a 1k head,
  so it has no own classifier (a baseline head is trained, like the self-supervised).
- SwAV, MoCo v2 and DINO's ResNet-50 are official checkpoint files (source
  ``checkpoint``), DINO's ViTs timm's ``.dino`` weights, CLIP open_clip's ``openai``.

Self-supervised and CLIP models have no classifier; their failures are those of a
linear head trained on the train split (``failures.head``).
"""

from __future__ import annotations

from typing import Any

from clipmend.models.spec import ModelSpec

# SwAV, MoCo v2 and DINO evaluate with Resize(256) + CenterCrop(224), bilinear
SSL_PREPROCESSING = {
    "interpolation": "bilinear",
    "crop_pct": 0.875,
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}
FAIR = "https://dl.fbaipublicfiles.com"


def _timm(arch: str, family: str) -> dict[str, Any]:
    return {"arch": arch, "family": family}


def _checkpoint(arch: str, family: str, layout: str, url: str) -> dict[str, Any]:
    return {
        "arch": arch,
        "family": family,
        "source": "checkpoint",
        "layout": layout,
        "url": url,
        "pretrained_cfg": dict(SSL_PREPROCESSING),
    }


def _clip(arch: str) -> dict[str, Any]:
    return {"arch": arch, "family": "clip", "source": "open_clip", "tag": "openai"}


_EFFICIENTNET_TAGS = {
    **{f"b{i}": f"tf_efficientnet_b{i}.aa_in1k" for i in range(8)},
    "b8": "tf_efficientnet_b8.ra_in1k",
    "l2": "tf_efficientnet_l2.ns_jft_in1k_475",
}

PAPER_MODELS: dict[str, dict[str, Any]] = {
    **{
        f"resnet{d}": _timm(
            f"resnet{d}.{'bt' if d == 26 else 'tv'}_in1k", "resnet"
        )  # no torchvision ResNet-26
        for d in (18, 26, 34, 50, 101, 152)
    },
    **{f"efficientnet_{v}": _timm(arch, "efficientnet") for v, arch in _EFFICIENTNET_TAGS.items()},
    "densenet121": _timm("densenet121.tv_in1k", "densenet"),
    "densenet161": _timm("densenet161.tv_in1k", "densenet"),
    "vit_base_patch16_224": _timm("vit_base_patch16_224.augreg_in21k_ft_in1k", "vit"),
    "vit_base_patch32_224": _timm("vit_base_patch32_224.augreg_in21k_ft_in1k", "vit"),
    "vit_large_patch16_224": _timm("vit_large_patch16_224.augreg_in21k_ft_in1k", "vit"),
    "vit_large_patch32_224": _timm("vit_large_patch32_224.orig_in21k", "vit"),
    "vit_base_resnet26d_224": _timm("vit_small_r26_s32_224.augreg_in21k_ft_in1k", "vit"),
    "vit_base_resnet50d_224": _timm("vit_base_r50_s16_384.orig_in21k_ft_in1k", "vit"),
    "swav_resnet50": _checkpoint(
        "resnet50", "swav", "swav", f"{FAIR}/deepcluster/swav_800ep_pretrain.pth.tar"
    ),
    **{
        f"swav_resnet50w{w}": _checkpoint(
            f"swav_resnet50w{w}",
            "swav",
            "swav",
            f"{FAIR}/deepcluster/swav_RN50w{w}_400ep_pretrain.pth.tar",
        )
        for w in (2, 4, 5)
    },
    "moco_v2_800ep": _checkpoint(
        "resnet50",
        "moco",
        "moco",
        f"{FAIR}/moco/moco_checkpoints/moco_v2_800ep/moco_v2_800ep_pretrain.pth.tar",
    ),
    "dino_resnet50": _checkpoint(
        "resnet50",
        "dino",
        "plain",
        f"{FAIR}/dino/dino_resnet50_pretrain/dino_resnet50_pretrain.pth",
    ),
    "dino_vits16": _timm("vit_small_patch16_224.dino", "dino"),
    "dino_vitb16": _timm("vit_base_patch16_224.dino", "dino"),
    "dino_vits8": _timm("vit_small_patch8_224.dino", "dino"),
    "dino_vitb8": _timm("vit_base_patch8_224.dino", "dino"),
    "clip_vit_b32": _clip("ViT-B-32"),
    "clip_vit_l14": _clip("ViT-L-14"),
    "clip_rn50": _clip("RN50"),
    "clip_rn50x4": _clip("RN50x4"),
    "clip_rn101": _clip("RN101"),
    "clip_rn50x16": _clip("RN50x16"),
}


def paper_model(name: str, **overrides: Any) -> ModelSpec:
    """The spec of one of the paper's models, with config keys overridden (e.g. ``weights``)."""
    if name not in PAPER_MODELS:
        raise ValueError(f"unknown paper model {name!r}; valid: {sorted(PAPER_MODELS)}")
    return ModelSpec.from_config(name, {**PAPER_MODELS[name], **overrides})
