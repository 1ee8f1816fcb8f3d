"""Batched decoding: every path gives exactly the tensors of the per-image transform."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import clipmend._torchvision_fix  # noqa: F401  (before timm/open_clip/diffusers import torchvision)
from clipmend.data.image_batches import array_batch_fn, batched_tensors
from clipmend.data.images import array_ref, load_image
from clipmend.models.backbones import ModelSpec, create_model, model_transform
from clipmend.models.features import extract

DEMO_CFG = {
    "input_size": [3, 32, 32],
    "crop_pct": 1.0,
    "interpolation": "bilinear",
    "mean": [0.5, 0.5, 0.5],
    "std": [0.25, 0.25, 0.25],
}


def save_array(path: Path, n: int, size: int, seed: int) -> list[str]:
    """A uint8 (n, size, size, 3) array on disk; its row references."""
    rng = np.random.default_rng(seed)
    np.save(path, rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8))
    return [array_ref(path, i) for i in range(n)]


def per_image(refs: list[str], transform) -> torch.Tensor:
    """The reference result: each image loaded and transformed on its own."""
    return torch.stack([transform(load_image(r)) for r in refs])


def timm_transform(**cfg) -> object:
    """The eval transform of a timm model with this pretrained config."""
    model = create_model(
        ModelSpec("m", "resnet10t", "resnet", pretrained_cfg=cfg), 10, pretrained=False
    )
    return model_transform(model)


def clip_transform() -> object:
    """The preprocessing of clipmend's tiny open_clip model (32 px, RGB conversion step)."""
    import open_clip

    from clipmend.clip.loading import register_local_configs

    register_local_configs()
    return open_clip.create_model_and_transforms("clipmend-tiny", pretrained=None)[2]


@pytest.mark.parametrize("make", [lambda: timm_transform(**DEMO_CFG), clip_transform])
def test_array_fast_path_is_bit_identical(make, tmp_path):
    transform = make()
    refs = save_array(tmp_path / "a.npy", 37, 32, 0)
    assert array_batch_fn(transform, 32, 32) is not None
    fast = torch.cat(list(batched_tensors(refs, transform, 16)))
    assert torch.equal(fast, per_image(refs, transform))


def test_rows_of_several_arrays_interleaved(tmp_path):
    transform = timm_transform(**DEMO_CFG)
    a, b = save_array(tmp_path / "a.npy", 5, 32, 0), save_array(tmp_path / "b.npy", 5, 32, 1)
    refs = [a[0], b[3], b[1], a[4], a[2], b[0], a[1]]
    assert torch.equal(
        torch.cat(list(batched_tensors(refs, transform, 3))), per_image(refs, transform)
    )


def test_resizing_transforms_take_the_per_image_path(tmp_path):
    transform = timm_transform(**{**DEMO_CFG, "input_size": [3, 64, 64]})
    assert array_batch_fn(transform, 32, 32) is None
    refs = save_array(tmp_path / "a.npy", 6, 32, 0)
    assert torch.equal(
        torch.cat(list(batched_tensors(refs, transform, 4))), per_image(refs, transform)
    )


def test_workers_decode_files_identically_and_in_order(tmp_path):
    transform = timm_transform(**{**DEMO_CFG, "input_size": [3, 48, 48], "crop_pct": 0.875})
    refs = []
    for i in range(23):
        path = tmp_path / f"{i}.jpg"
        Image.fromarray(
            np.random.default_rng(i).integers(0, 256, (50, 70, 3), dtype=np.uint8)
        ).save(path)
        refs.append(str(path))
    refs.append(save_array(tmp_path / "a.npy", 3, 32, 0)[1])  # mixed references: no array fast path
    expected = per_image(refs, transform)
    for workers in (0, 2):
        assert torch.equal(torch.cat(list(batched_tensors(refs, transform, 5, workers))), expected)


def test_extract_keeps_its_signature_and_output(tmp_path):
    transform = timm_transform(**DEMO_CFG)
    refs = save_array(tmp_path / "a.npy", 20, 32, 0)
    torch.manual_seed(0)
    layer = torch.nn.Linear(3 * 32 * 32, 4)

    def encode(x: torch.Tensor) -> torch.Tensor:
        return layer(x.flatten(1))

    old_style = extract(encode, transform, refs, 8, "cpu", "test")
    with torch.no_grad():
        expected = encode(per_image(refs, transform)).numpy()
    np.testing.assert_allclose(old_style, expected, rtol=0, atol=1e-6)
    assert np.array_equal(
        extract(encode, transform, refs, batch_size=8, device="cpu", workers=2), old_style
    )
