"""Preprocessed image batches, in order, as fast as the references allow.

Three paths, all giving the tensors that ``transform(load_image(ref))`` gives, bit for bit:

- rows of uint8 ``.npy`` arrays whose size the transform's resize and crop leave
  unchanged (the demo's and CIFAR's 32 px images for 32 px models) skip PIL: a whole
  batch is sliced from the array and scaled and normalised at once;
- otherwise, with ``workers`` > 0, a ``DataLoader`` decodes in worker processes while
  the model runs;
- otherwise images are decoded one by one in this process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from functools import partial

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from clipmend import _torchvision_fix  # noqa: F401  (before timm/open_clip/diffusers import torchvision)
from clipmend.data.images import is_array_ref, load_image, open_array

BatchFn = Callable[[np.ndarray], torch.Tensor]


def default_workers(device: torch.device | None = None) -> int:
    """Decoding workers for the CPUs this process may use (at most 8).

    On the CPU, the CPUs beyond torch's own threads (the forward needs them); on a GPU,
    every CPU but one, since the forward runs on the GPU (give the job CPUs, e.g.
    ``--set-threads extract_features=8``, and decoding keeps up with the GPU).
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    busy = 1 if device is not None and device.type == "cuda" else torch.get_num_threads()
    return max(0, min(8, cpus - busy))


def _keeps_size(step: object, height: int, width: int) -> bool:
    """True if a resize or crop ``step`` leaves an image of this size untouched."""
    from torchvision import transforms as T

    if isinstance(step, T.Resize):
        size = [step.size] if isinstance(step.size, int) else list(step.size)
        if len(size) == 1:
            return step.max_size is None and min(height, width) == size[0]
        return size == [height, width]
    if isinstance(step, T.CenterCrop):
        return list(step.size) == [height, width]
    return False


def _to_tensor_batch(
    images: np.ndarray, mean: torch.Tensor | None, std: torch.Tensor | None
) -> torch.Tensor:
    """ToTensor (and Normalize) of a uint8 (N, H, W, 3) batch, exactly as per image."""
    batch = (
        torch.from_numpy(images)
        .permute(0, 3, 1, 2)
        .contiguous()
        .to(torch.get_default_dtype())
        .div(255)
    )
    if mean is not None:
        batch.sub_(mean[None, :, None, None]).div_(std[None, :, None, None])
    return batch


def array_batch_fn(transform: object, height: int, width: int) -> BatchFn | None:
    """A batched equivalent of ``transform`` for RGB images of this size, or None if there is none.

    It exists when the transform is resizes and crops that keep this size, an RGB
    conversion, ToTensor and at most one Normalize: then only scaling and normalising
    act, and they act element-wise.
    """
    from torchvision import transforms as T

    steps = list(transform.transforms) if isinstance(transform, T.Compose) else [transform]
    geometry = 0
    while geometry < len(steps) and _keeps_size(steps[geometry], height, width):
        geometry += 1
    rest = steps[geometry:]
    if (
        rest
        and type(rest[0]).__name__ == "MaybeConvertMode"
        and getattr(rest[0], "mode", None) == "RGB"
    ):
        rest = rest[1:]  # open_clip's RGB conversion: a no-op on RGB rows
    if not rest or not isinstance(rest[0], T.ToTensor):
        return None
    if len(rest) == 1:
        return partial(_to_tensor_batch, mean=None, std=None)
    norm = rest[1]
    if len(rest) > 2 or not isinstance(norm, T.Normalize) or norm.inplace:
        return None
    dtype = torch.get_default_dtype()
    return partial(
        _to_tensor_batch,
        mean=torch.as_tensor(norm.mean, dtype=dtype),
        std=torch.as_tensor(norm.std, dtype=dtype),
    )


def _array_batches(
    refs: Sequence[str], transform: object, batch_size: int
) -> Iterator[torch.Tensor] | None:
    """Batches sliced straight from ``.npy`` arrays, or None if some reference needs PIL."""
    if not refs or not all(is_array_ref(r) for r in refs):
        return None
    paths, rows = zip(*(r.rsplit("#", 1) for r in refs))
    fns = {}
    for path in set(paths):
        shape = open_array(path).shape
        fn = (
            array_batch_fn(transform, shape[1], shape[2])
            if len(shape) == 4 and shape[3] == 3
            else None
        )
        if fn is None:
            return None
        fns[path] = fn
    return _slice_batches(paths, np.asarray(rows, dtype=np.int64), fns, batch_size)


def _slice_batches(
    paths: Sequence[str], rows: np.ndarray, fns: dict[str, BatchFn], batch_size: int
) -> Iterator[torch.Tensor]:
    for start in range(0, len(rows), batch_size):
        chunk_paths, chunk_rows = (
            paths[start : start + batch_size],
            rows[start : start + batch_size],
        )
        parts, begin = [], 0
        for end in range(1, len(chunk_rows) + 1):  # runs of rows from the same array
            if end == len(chunk_rows) or chunk_paths[end] != chunk_paths[begin]:
                array = open_array(chunk_paths[begin])
                parts.append(fns[chunk_paths[begin]](np.asarray(array[chunk_rows[begin:end]])))
                begin = end
        yield torch.cat(parts) if len(parts) > 1 else parts[0]


class ImageSet(Dataset):
    """Referenced images, each loaded and transformed on access."""

    def __init__(self, refs: Sequence[str], transform: Callable):
        self.refs, self.transform = list(refs), transform

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.transform(load_image(self.refs[i]))


def batched_tensors(
    refs: Sequence[str], transform: Callable, batch_size: int, workers: int = 0
) -> Iterator[torch.Tensor]:
    """Yield preprocessed image batches (N, 3, H, W) in order."""
    fast = _array_batches(refs, transform, batch_size)
    if fast is not None:
        yield from fast
    elif workers > 0 and len(refs) > batch_size:
        yield from DataLoader(
            ImageSet(refs, transform), batch_size=batch_size, num_workers=workers, shuffle=False
        )
    else:
        for start in range(0, len(refs), batch_size):
            yield torch.stack([transform(load_image(r)) for r in refs[start : start + batch_size]])
