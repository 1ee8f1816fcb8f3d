"""Make torchvision importable next to a CPU-only torch wheel.

PyPI's torchvision 0.28 is a CUDA build; beside the CPU torch its ``_C.so`` fails to
load and ``import torchvision`` dies on ``operator torchvision::nms does not exist``.
timm, open_clip and diffusers all import torchvision, so this runs before any of them.
With a matching torch the library loads and nothing is patched.
"""

import importlib.util
from pathlib import Path

import torch


def _ensure_torchvision_ops() -> None:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return
    lib = Path(spec.origin).parent / "_C.so"
    try:
        torch.ops.load_library(str(lib))
        return
    except (OSError, RuntimeError):
        pass
    try:
        torch.ops.torchvision.nms  # noqa: B018 - already defined by an earlier call
        return
    except (AttributeError, RuntimeError):
        pass
    lib_def = torch.library.Library("torchvision", "DEF")
    lib_def.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib_def.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    # keep the Library object alive: its definitions vanish when it is collected
    globals()["_LIB"] = lib_def


_ensure_torchvision_ops()
