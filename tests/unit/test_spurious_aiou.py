"""Soft IoU and AIoU on hand numbers; GradCAM of tiny open_clip ViT and ModifiedResNet encoders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from clipmend.clip.loading import register_local_configs
from clipmend.spurious.aiou import aiou, aiou_batch, center_crop_mask, gradcam_clip, mean_aiou, soft_iou


def test_soft_iou_hand_numbers():
    m = np.array([[1.0, 0.5], [0.0, 0.2]])
    b = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert soft_iou(m, b) == pytest.approx((1 + 0.5) / (1 + 1 + 0 + 0.2))
    assert soft_iou(np.zeros((2, 2)), np.zeros((2, 2))) == 0  # 0/0 -> 0
    assert soft_iou(np.stack([m, b]), b).tolist() == pytest.approx([1.5 / 2.2, 1.0])
    with pytest.raises(ValueError, match="differ"):
        soft_iou(m, np.ones((3, 3)))


def test_aiou_hand_numbers():
    mask = np.array([[1.0, 1.0], [0.0, 0.0]])
    maps = np.stack([
        np.array([[1.0, 0.5], [0.0, 0.2]]),  # IoU 1.5 / 2.2
        np.array([[0.0, 0.0], [1.0, 1.0]]),  # IoU 0
        np.array([[0.5, 0.5], [0.0, 0.0]]),  # IoU 0.5
    ])
    own = 1.5 / 2.2
    assert aiou(maps, mask, 0) == pytest.approx(own / (own + 0.5))
    assert aiou(maps, mask, 1) == 0
    assert aiou(maps, mask, 2) == pytest.approx(0.5 / (0.5 + own))
    assert aiou(np.zeros((2, 2, 2)), mask, 0) == 0  # 0/0 -> 0
    with pytest.raises(ValueError, match="C >= 2"):
        aiou(maps[:1], mask, 0)
    with pytest.raises(ValueError, match="class 3"):
        aiou(maps, mask, 3)


def test_aiou_of_a_map_equal_to_the_mask_is_one_over_one_plus_the_best_other():
    rng = np.random.default_rng(0)
    masks = (rng.random((6, 8, 8)) < 0.4).astype(float)
    labels = np.array([0, 1, 2, 3, 0, 1])
    maps = rng.random((6, 4, 8, 8)) * 0.5
    maps[np.arange(6), labels] = masks  # planted: the true class's map is exactly the mask
    others = soft_iou(maps, masks[:, None])
    others[np.arange(6), labels] = -1
    expected = 1 / (1 + others.max(axis=1))
    np.testing.assert_allclose(aiou_batch(maps, masks, labels), expected)
    table = mean_aiou(maps, masks, labels, groups=["a", "b", "a", "b", "a", "b"])
    assert table["group"].tolist() == ["all", "a", "b"] and table["n"].tolist() == [6, 3, 3]
    assert table["aiou"].tolist() == pytest.approx(
        [expected.mean(), expected[[0, 2, 4]].mean(), expected[[1, 3, 5]].mean()]
    )


def _tiny_vit():
    import open_clip

    register_local_configs()
    torch.manual_seed(0)
    return open_clip.create_model("clipmend-tiny").eval()


def _tiny_resnet():
    import open_clip

    torch.manual_seed(0)
    vision = dict(image_size=128, layers=[1, 1, 1, 1], width=16, head_width=8)
    text = dict(context_length=8, vocab_size=64, width=16, heads=2, layers=1)
    return open_clip.CLIP(embed_dim=24, vision_cfg=vision, text_cfg=text).eval()


def _reference(model, image, text, layer, vit):
    """GradCAM of one image, straight from the autograd graph of the whole encoder."""
    acts = {}
    hook = layer.register_forward_hook(lambda m, a, out: acts.__setitem__("a", out))
    emb = model.visual(image[None])
    hook.remove()
    logits = 100 * F.normalize(emb, dim=-1) @ text.T
    out = []
    for c in range(len(text)):
        (g,) = torch.autograd.grad(logits[0, c], acts["a"], retain_graph=True)
        a = acts["a"]
        if vit:  # drop the class token; (1, 1 + h*w, D) -> (1, D, h, w)
            h, w = model.visual.grid_size
            a, g = (t[:, 1:].reshape(1, h, w, -1).permute(0, 3, 1, 2) for t in (a, g))
        cam = torch.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=image.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
        span = cam.max() - cam.min()
        out.append((cam - cam.min()) / span if span > 0 else torch.zeros_like(cam))
    return torch.stack(out).detach().numpy()


@pytest.mark.parametrize("build,size", [(_tiny_vit, 32), (_tiny_resnet, 128)])
def test_gradcam_shapes_range_and_reference(build, size):
    model = build()
    vit = hasattr(model.visual, "transformer")
    torch.manual_seed(1)
    images = torch.randn(5, 3, size, size)
    text = F.normalize(torch.randn(3, model.visual.output_dim), dim=-1)
    maps, logits = gradcam_clip(model, images, text, logit_scale=100.0, batch_size=2, return_logits=True)
    assert maps.shape == (5, 3, size, size) and maps.dtype == torch.float32
    with torch.no_grad():
        expected_logits = 100 * F.normalize(model.encode_image(images), dim=-1) @ text.T
    torch.testing.assert_close(logits, expected_logits, atol=1e-4, rtol=1e-5)
    maps = maps.numpy()
    assert maps.min() == 0 and maps.max() == 1
    peaks = maps.reshape(15, -1).max(axis=1)  # each map min-max scaled, or 0 where constant
    assert np.all((np.abs(peaks - 1) < 1e-5) | (peaks == 0)) and (peaks > 0).sum() >= 5
    # the ViT reads the last block's input, i.e. the output of the block before it
    layer = model.visual.transformer.resblocks[-2] if vit else model.visual.layer4
    for i in (0, 4):
        np.testing.assert_allclose(maps[i], _reference(model, images[i], text, layer, vit), atol=1e-5)
    # batch size and logit scale do not change the maps; the weights get no gradients
    np.testing.assert_allclose(gradcam_clip(model, images, text.numpy(), 1.0, batch_size=5), maps, atol=1e-5)
    assert all(p.grad is None for p in model.parameters()) and not model.visual.training
    # different classes get different maps
    assert np.abs(maps[:, 0] - maps[:, 1]).max() > 0.1


def test_gradcam_restores_training_mode_and_rejects_other_encoders():
    model = _tiny_vit().train()
    gradcam_clip(model, torch.randn(1, 3, 32, 32), torch.randn(2, 128), 100.0)
    assert model.visual.training

    class Other(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.visual = torch.nn.Linear(3, 4)

    with pytest.raises(TypeError, match="Linear"):
        gradcam_clip(Other(), torch.randn(1, 3, 8, 8), torch.randn(2, 4), 100.0)


@pytest.mark.parametrize("shape", [(20, 30), (30, 20), (16, 16), (90, 60)])
def test_center_crop_mask_follows_clips_resize_and_crop(shape):
    from torchvision.transforms import CenterCrop, InterpolationMode, Resize  # fixed by clip.loading

    rng = np.random.default_rng(0)
    mask = rng.random(shape).astype(np.float32)
    expected = CenterCrop(40)(Resize(40, interpolation=InterpolationMode.BILINEAR)(torch.from_numpy(mask)[None]))
    out = center_crop_mask(mask, 40)
    assert out.shape == (40, 40)
    np.testing.assert_allclose(out, expected[0].numpy(), atol=1e-5)
