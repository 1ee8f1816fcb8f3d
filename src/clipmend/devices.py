"""Where models and tensors live: one device for a whole run (config ``device``).

``resolve_device`` turns the config value into a ``torch.device``; every library
function that runs a model or trains a tensor takes that device and puts both the
module and its batches on it. ``check_placement`` fails with a clear message when a
module and its input sit on different devices.

Placement tests on a CPU-only machine use the ``meta`` device: modules and tensors
there have shapes but no data, so a whole code path runs without a GPU and any tensor
left on the CPU raises. ``to_numpy`` gives zeros of the right shape for a meta tensor,
so such a run goes all the way to its outputs.
"""

from __future__ import annotations

import numpy as np
import torch

DEVICES = ("auto", "cpu", "cuda")
PLACEMENT_TEST_DEVICE = "meta"  # accepted by resolve_device for placement tests only


class PlacementError(RuntimeError):
    """A module and the tensors it is given live on different devices."""


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` picks CUDA when present; ``cpu``, ``cuda`` and ``cuda:N`` are taken as named."""
    if isinstance(device, torch.device):
        return device
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == PLACEMENT_TEST_DEVICE:
        return torch.device("meta")
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"device is {name!r}; valid: {list(DEVICES)} (or cuda:N)")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but no CUDA GPU is visible; use 'auto' or 'cpu'")
    return torch.device(name)


def _same(a: torch.device, b: torch.device) -> bool:
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


def check_placement(module: torch.nn.Module, device: torch.device, what: str) -> None:
    """Raise ``PlacementError`` unless every parameter and buffer of ``module`` is on ``device``."""
    for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
        if not _same(tensor.device, device):
            raise PlacementError(
                f"{what}: {name} is on {tensor.device} but the run's device is {device}; "
                "move the model with .to(device) before use"
            )


def to_numpy(tensor: torch.Tensor, dtype=np.float32) -> np.ndarray:
    """A tensor as a numpy array on the host (zeros of its shape for a meta tensor)."""
    if tensor.is_meta:
        return np.zeros(tuple(tensor.shape), dtype=dtype)
    return tensor.detach().to("cpu").numpy().astype(dtype, copy=False)


def allow_tf32(device: torch.device) -> None:
    """Let CUDA matmuls use TF32 tensor cores (about 10 bits of mantissa; heads tolerate it),
    unless the run is deterministic (``set_deterministic``)."""
    if device.type == "cuda" and not torch.are_deterministic_algorithms_enabled():
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


CUBLAS_WORKSPACE_CONFIG = ":4096:8"  # what cuBLAS needs for deterministic results


def set_deterministic(on: bool) -> None:
    """Run setting ``deterministic``: deterministic algorithms, and what CUDA needs for them
    (a fixed cuBLAS workspace, no cuDNN benchmarking, no TF32). Call before the first CUDA work."""
    import os

    if not on:
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels (for timing); a no-op off CUDA."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
