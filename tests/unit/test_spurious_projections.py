"""The cached pre-projection shortcut equals open_clip's own encoders; projections train and load back."""

import pytest
import torch
import torch.nn.functional as F

from clipmend.clip.loading import register_local_configs
from clipmend.spurious.projections import Projections, image_pre_features, text_pre_features


def _tiny_vit():
    import open_clip

    register_local_configs()
    torch.manual_seed(0)
    return open_clip.create_model("clipmend-tiny", pretrained=None).eval()


def _tiny_resnet():
    """A ModifiedResNet CLIP (the RN50 design) with one block per stage and width 8."""
    from open_clip.model import CLIP

    torch.manual_seed(0)
    return CLIP(embed_dim=32, vision_cfg={"layers": [1, 1, 1, 1], "width": 8, "head_width": 64, "image_size": 64},
                text_cfg={"context_length": 12, "vocab_size": 100, "width": 32, "heads": 2, "layers": 1}).eval()


def _tokens(model, n=3):
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(1, 90, (n, model.context_length), generator=g)
    tokens[:, 5:] = 0
    tokens[:, 4] = 99  # end-of-text: the largest id
    return tokens


@pytest.mark.parametrize("build, size", [(_tiny_vit, 32), (_tiny_resnet, 64)], ids=["vit", "modified_resnet"])
def test_shortcut_equals_encode_image_and_encode_text(build, size):
    model = build()
    images = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(2))
    tokens = _tokens(model)
    proj = Projections.from_clip(model)
    with torch.no_grad():
        img = proj.images(image_pre_features(model, images))
        txt = proj.texts(text_pre_features(model, tokens))
        expected_img = F.normalize(model.encode_image(images), dim=-1)
        expected_txt = F.normalize(model.encode_text(tokens), dim=-1)
    torch.testing.assert_close(img, expected_img, atol=1e-5, rtol=0)
    torch.testing.assert_close(txt, expected_txt, atol=1e-5, rtol=0)
    # the model got its projections back after the shortcut
    assert isinstance(model.text_projection, torch.nn.Parameter)
    head = model.visual.attnpool if hasattr(model.visual, "attnpool") else model.visual.proj
    assert not isinstance(head, torch.nn.Identity) and head is not None


def test_pre_features_shapes():
    vit, rn = _tiny_vit(), _tiny_resnet()
    assert image_pre_features(vit, torch.zeros(2, 3, 32, 32)).shape == (2, 128)
    assert image_pre_features(rn, torch.zeros(2, 3, 64, 64)).shape == (2, 256, 2, 2)  # layer4 map, 8*32 channels
    assert text_pre_features(vit, _tokens(vit, 2)).dtype == torch.float32


def test_only_projections_train_and_load_into_writes_them_back(tmp_path):
    model = _tiny_resnet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    proj = Projections.from_clip(model)
    names = {n.split(".")[0] for n, _ in proj.named_parameters()}
    assert names == {"visual", "text", "logit_scale"}
    with torch.no_grad():
        for p in proj.parameters():
            p.add_(0.5)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # copies, not views

    torch.save(proj.state_dict(), tmp_path / "p.pt")
    again = Projections.from_clip(model)
    again.load_state_dict(torch.load(tmp_path / "p.pt"))
    again.load_into(model)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"text_projection", "logit_scale"} | {f"visual.attnpool.{k}" for k in proj.visual.state_dict()}
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(proj.images(image_pre_features(model, images)),
                                   F.normalize(model.encode_image(images), dim=-1), atol=1e-5, rtol=0)


def test_load_into_other_architecture_and_unsupported_model_fail_clearly():
    with pytest.raises(ValueError, match="visual.proj"):
        Projections.from_clip(_tiny_resnet()).load_into(_tiny_vit())
    with pytest.raises(ValueError, match="neither visual.proj nor visual.attnpool"):
        Projections.from_clip(torch.nn.Linear(2, 2))
