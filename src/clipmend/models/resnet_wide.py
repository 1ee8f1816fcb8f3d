"""SwAV's wide ResNet-50s (``resnet50w2/w4/w5``) as timm models.

SwAV multiplies every width of a ResNet-50 by ``widen``, the stem's included; timm's
ResNet keeps a 64-channel stem, so the stem and the first block's inputs are widened
here. Parameter names match SwAV's ``src/resnet50.py`` (torchvision's layout), so its
checkpoints load with the ``swav`` key layout of ``clipmend.models.backbones``. Importing this
module registers ``swav_resnet50w2``, ``swav_resnet50w4`` and ``swav_resnet50w5``.
"""

from __future__ import annotations

from typing import Any

from clipmend import _torchvision_fix  # noqa: F401  (before timm imports torchvision)

# isort: split
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models.resnet import Bottleneck, ResNet
from torch import nn

WIDTHS = (64, 128, 256, 512)


class WideResNet50(ResNet):
    """ResNet-50 with every width (stem, bottleneck and outputs) multiplied by ``widen``."""

    def __init__(self, widen: int, layers: tuple[int, ...] = (3, 4, 6, 3), **kwargs: Any):
        super().__init__(
            block=Bottleneck, layers=layers, channels=tuple(w * widen for w in WIDTHS), **kwargs
        )
        stem = WIDTHS[0] * widen
        self.conv1 = nn.Conv2d(self.in_chans, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        first = self.layer1[0]
        first.conv1 = nn.Conv2d(stem, first.conv1.out_channels, kernel_size=1, bias=False)
        first.downsample[0] = nn.Conv2d(
            stem, first.downsample[0].out_channels, kernel_size=1, bias=False
        )
        self.feature_info[0]["num_chs"] = stem


def _cfg() -> dict[str, Any]:
    # SwAV's evaluation preprocessing: Resize(256) + CenterCrop(224), bilinear, ImageNet statistics
    return {
        "url": "",
        "num_classes": 0,
        "input_size": (3, 224, 224),
        "pool_size": (7, 7),
        "crop_pct": 0.875,
        "interpolation": "bilinear",
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "first_conv": "conv1",
        "classifier": "fc",
    }


default_cfgs = generate_default_cfgs({f"swav_resnet50w{w}": _cfg() for w in (2, 4, 5)})


def _create(variant: str, widen: int, pretrained: bool, **kwargs: Any) -> WideResNet50:
    return build_model_with_cfg(WideResNet50, variant, pretrained, widen=widen, **kwargs)


@register_model
def swav_resnet50w2(pretrained: bool = False, **kwargs: Any) -> WideResNet50:
    """SwAV's ResNet-50 ×2 (94 M parameters)."""
    return _create("swav_resnet50w2", 2, pretrained, **kwargs)


@register_model
def swav_resnet50w4(pretrained: bool = False, **kwargs: Any) -> WideResNet50:
    """SwAV's ResNet-50 ×4 (375 M parameters)."""
    return _create("swav_resnet50w4", 4, pretrained, **kwargs)


@register_model
def swav_resnet50w5(pretrained: bool = False, **kwargs: Any) -> WideResNet50:
    """SwAV's ResNet-50 ×5 (586 M parameters)."""
    return _create("swav_resnet50w5", 5, pretrained, **kwargs)
