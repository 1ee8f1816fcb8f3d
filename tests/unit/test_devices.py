"""Placement: every model and batch on the run's device, checked on a CPU via the meta device.

A meta tensor has a shape but no data; an op mixing a meta and a CPU tensor raises. So
running the workflow's code paths with ``device="meta"`` fails wherever a model or a
batch was left behind on the CPU, as a GPU run would with ``cuda``.
"""

import numpy as np
import pytest
import torch

from clipmend.devices import PlacementError, check_placement, resolve_device, to_numpy
from clipmend.models.backbones import ModelSpec, create_backbone, create_model
from clipmend.models.features import extract
from clipmend.models.training import TrainParams, train_classifier

CFG = {"input_size": [3, 32, 32], "crop_pct": 1.0, "interpolation": "bilinear",
       "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "images.npy"
    np.save(path, rng.integers(0, 255, (6, 32, 32, 3), dtype=np.uint8))
    return [f"{path}#{i}" for i in range(6)]


@pytest.fixture
def checkpoint(tmp_path):
    spec = ModelSpec(name="tiny", arch="resnet10t", family="resnet", weights="train", pretrained_cfg=CFG)
    path = tmp_path / "tiny.pth"
    torch.save(create_model(spec, num_classes=3, pretrained=False).state_dict(), path)
    return spec, path


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="tpu.*valid"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_backbone_is_placed_and_extraction_runs_on_its_device(checkpoint, images):
    spec, path = checkpoint
    backbone = create_backbone(spec, 3, path, device="meta")
    check_placement(backbone.model, torch.device("meta"), "backbone")
    feats = extract(backbone.features, backbone.transform, images, batch_size=4, device="meta",
                    workers=0, module=backbone.model)
    assert feats.shape == (6, backbone.model.num_features)
    assert backbone.classifier()[0].device.type == "cpu"  # the own head stays on the host (float32 decisions)


def test_a_model_left_on_the_cpu_is_caught_before_the_first_batch(checkpoint, images):
    spec, path = checkpoint
    backbone = create_backbone(spec, 3, path, device="cpu")
    with pytest.raises(PlacementError, match="run's device is meta"):
        extract(backbone.features, backbone.transform, images, batch_size=4, device="meta",
                workers=0, module=backbone.model)


def test_training_runs_on_the_device(checkpoint, images):
    spec, _ = checkpoint
    model = create_model(spec, num_classes=3, pretrained=False)
    from clipmend.models.backbones import model_transform

    state = train_classifier(model, model_transform(model), images, np.array([0, 1, 2, 0, 1, 2]),
                             TrainParams(epochs=1, batch_size=4), device="meta")
    assert all(t.is_meta for t in state.values())


def test_clip_loads_and_embeds_on_the_device(images):
    from clipmend.clip.loading import load_clip

    clip = load_clip("clipmend-tiny", None, "meta")
    check_placement(clip.model, torch.device("meta"), "clip")
    assert clip.encode_texts(["a photo of a bag", "a photo of a coat"]).shape[0] == 2
    feats = extract(clip.encode_images, clip.preprocess, images, batch_size=4, device="meta",
                    workers=0, module=clip.model)
    assert feats.shape[0] == 6


def test_to_numpy_of_meta_is_zeros_of_its_shape():
    assert to_numpy(torch.empty(2, 3, device="meta")).shape == (2, 3)


@pytest.fixture
def png_images(tmp_path):
    """PNG files at 40 px: the transform resizes them, so they are decoded by PIL, never sliced."""
    from PIL import Image

    rng = np.random.default_rng(1)
    refs = []
    for i in range(7):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path)
        refs.append(str(path))
    return refs


class ForwardLog:
    """An encoder wrapper that records the device, dtype and autocast state of every batch."""

    def __init__(self, encode):
        self.encode, self.seen = encode, []

    def __call__(self, batch):
        out = self.encode(batch)
        self.seen.append((batch.device.type, len(batch), torch.is_autocast_enabled("cpu"), out.dtype))
        return out


@pytest.mark.parametrize("workers", [0, 2])
def test_decoded_images_reach_the_device_through_pil_and_dataloader_workers(checkpoint, png_images,
                                                                             workers, monkeypatch):
    import clipmend.data.image_batches as batches

    loaders = []

    class CountingLoader(batches.DataLoader):
        def __init__(self, *args, **kwargs):
            loaders.append(kwargs.get("num_workers"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(batches, "DataLoader", CountingLoader)
    spec, path = checkpoint
    backbone = create_backbone(spec, 3, path, device="meta")
    encode = ForwardLog(backbone.features)
    feats = extract(encode, backbone.transform, png_images, batch_size=3, device="meta",
                    workers=workers, module=backbone.model)
    assert feats.shape == (7, backbone.model.num_features)
    assert [(d, n) for d, n, _, _ in encode.seen] == [("meta", 3), ("meta", 3), ("meta", 1)]
    assert loaders == ([workers] if workers else [])  # the worker path is the one taken


def test_the_autocast_branch_runs_the_forward_in_its_dtype_and_returns_float32(checkpoint, png_images,
                                                                               monkeypatch):
    """The branch CUDA takes (float16 autocast), run on the CPU's autocast (bfloat16)."""
    import clipmend.models.features as features

    monkeypatch.setattr(features, "autocast_dtype", lambda device, dtype="auto": "bfloat16")
    spec, path = checkpoint
    backbone = create_backbone(spec, 3, path, device="cpu")
    encode = ForwardLog(backbone.features)
    feats = features.extract(encode, backbone.transform, png_images, batch_size=4, device="cpu",
                             workers=0, module=backbone.model)
    assert feats.dtype == np.float32 and np.isfinite(feats).all()
    assert {(autocast, dtype) for _, _, autocast, dtype in encode.seen} == {(True, torch.bfloat16)}
    monkeypatch.undo()
    assert features.autocast_dtype("cpu") is None and features.autocast_dtype("meta") is None
