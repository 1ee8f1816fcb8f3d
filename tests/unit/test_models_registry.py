"""The model registry: the paper's 40 models, every source, local weights, offline errors."""

from __future__ import annotations

import time
from collections import Counter

import pytest
import torch

import clipmend._torchvision_fix  # noqa: F401  (before timm/open_clip/diffusers import torchvision)
from clipmend.models.backbones import (
    LAYOUTS,
    ModelSpec,
    WeightsNotFound,
    create_backbone,
    official_checkpoint_path,
    offline,
)
from clipmend.models.zoo import PAPER_MODELS, paper_model

TABLE5_FAMILIES = {
    "resnet": 6,
    "efficientnet": 10,
    "densenet": 2,
    "vit": 6,
    "swav": 4,
    "moco": 1,
    "dino": 5,
    "clip": 6,
}


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """A private torch hub folder (official checkpoints are looked for in its checkpoints/)."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    return tmp_path / "hub"


def features_of(backbone, x: torch.Tensor) -> torch.Tensor:
    """The backbone's features of a batch."""
    return backbone.features(x)


def random_timm(arch: str, **kwargs) -> torch.nn.Module:
    """A timm model with random weights (seeded)."""
    import timm

    torch.manual_seed(0)
    return timm.create_model(arch, pretrained=False, **kwargs).eval()


def test_zoo_has_the_40_models_of_table5():
    assert len(PAPER_MODELS) == 40
    assert Counter(e["family"] for e in PAPER_MODELS.values()) == TABLE5_FAMILIES


@pytest.mark.parametrize("name", sorted(PAPER_MODELS))
def test_every_zoo_model_resolves_to_a_loader(name):
    import open_clip
    import timm

    import clipmend.models.resnet_wide  # noqa: F401

    spec = paper_model(name)
    if spec.source == "open_clip":
        assert spec.arch in open_clip.list_models()
        assert open_clip.get_pretrained_cfg(spec.arch, spec.tag), (spec.arch, spec.tag)
    else:
        assert timm.is_model(spec.arch), spec.arch
    if spec.source == "timm":
        cfg = timm.models.get_pretrained_cfg(spec.arch)
        assert cfg.hf_hub_id, f"{spec.arch} has no hub weights"
    if spec.source == "checkpoint":
        assert spec.layout in LAYOUTS and spec.url.startswith("https://dl.fbaipublicfiles.com/")


@pytest.mark.parametrize("name", sorted(PAPER_MODELS))
def test_missing_weights_offline_fail_fast_naming_model_place_and_key(name, hub_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import open_clip  # noqa: F401 - import time is not the error's time
    import timm  # noqa: F401

    start = time.perf_counter()
    with pytest.raises(WeightsNotFound) as err:
        create_backbone(paper_model(name), 1000, None)
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert (
        repr(name) in message
        and f"models.{name}.weights" in message
        and "HF_HUB_OFFLINE" in message
    )
    assert ("Hugging Face cache" in message) or (str(hub_dir) in message)


def test_offline_reads_hf_hub_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert offline()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not offline()


def test_timm_weights_from_a_local_file(tmp_path):
    model = random_timm("resnet18")
    path = tmp_path / "resnet18.pth"
    torch.save(model.state_dict(), path)
    spec = ModelSpec.from_config(
        "r18", {"arch": "resnet18.tv_in1k", "family": "resnet", "weights": str(path)}
    )
    backbone = create_backbone(spec, 1000, None)
    x = torch.randn(2, 3, 64, 64)
    expected = model.forward_head(model.forward_features(x), pre_logits=True)
    assert torch.equal(features_of(backbone, x), expected)
    weight, bias = backbone.classifier()
    assert torch.equal(weight, model.fc.weight) and torch.equal(bias, model.fc.bias)
    assert (
        backbone.transform.transforms[0].interpolation.value == "bilinear"
    )  # tv_in1k's own config
    assert create_backbone(spec, 10, None).classifier() is None  # a 1000-way head is no 10-way head


def test_a_fine_tuned_checkpoint_keeps_its_own_number_of_classes(tmp_path):
    model = random_timm("resnet10t", num_classes=3)  # a user's 3-class fine-tune
    path = tmp_path / "mine.pth"
    torch.save(model.state_dict(), path)
    entry = {"arch": "resnet10t", "family": "resnet", "weights": str(path)}
    backbone = create_backbone(ModelSpec.from_config("mine", entry), 3, None)
    weight, bias = backbone.classifier()
    assert torch.equal(weight, model.fc.weight) and torch.equal(bias, model.fc.bias)
    assert create_backbone(ModelSpec.from_config("mine", entry), 5, None).classifier() is None
    dropping = ModelSpec.from_config("mine", {**entry, "kwargs": {"num_classes": 0}})
    assert create_backbone(dropping, 3, None).classifier() is None
    wrong = ModelSpec.from_config("mine", {**entry, "kwargs": {"num_classes": 7}})
    with pytest.raises(ValueError, match=r"models\.mine\.kwargs\.num_classes is 7.*over 3 classes"):
        create_backbone(wrong, 3, None)


def test_missing_local_file_names_it_and_the_key(tmp_path):
    spec = ModelSpec.from_config(
        "r18", {"arch": "resnet18", "family": "resnet", "weights": str(tmp_path / "nope.pth")}
    )
    with pytest.raises(WeightsNotFound, match=r"nope\.pth.*models\.r18\.weights"):
        create_backbone(spec, 10, None)


def official_layout(state: dict[str, torch.Tensor], layout: str) -> dict:
    """``state`` (timm/torchvision keys) in the key layout of official SwAV/MoCo v2/DINO files."""
    backbone = {k: v for k, v in state.items() if not k.startswith("fc.")}
    if layout == "swav":
        extra = {
            "projection_head.0.weight": torch.randn(8, 512),
            "prototypes.weight": torch.randn(5, 8),
        }
        return {f"module.{k}": v for k, v in {**backbone, **extra}.items()}
    if layout == "moco":
        query = {f"module.encoder_q.{k}": v for k, v in backbone.items()}
        heads = {
            "module.encoder_q.fc.0.weight": torch.randn(8, 512),
            "module.encoder_q.fc.2.weight": torch.randn(4, 8),
        }
        keys = {f"module.encoder_k.{k}": v + 1 for k, v in backbone.items()}
        return {
            "epoch": 800,
            "arch": "resnet18",
            "optimizer": {"state": {}, "param_groups": []},
            "state_dict": {
                **query,
                **heads,
                **keys,
                "module.queue": torch.randn(8, 16),
                "module.queue_ptr": torch.zeros(1, dtype=torch.long),
            },
        }
    return backbone


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_official_checkpoint_layouts_load_into_timm(layout, tmp_path):
    model = random_timm("resnet18", num_classes=0)
    state = random_timm("resnet18").state_dict()
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")})
    path = tmp_path / f"{layout}.pth.tar"
    torch.save(official_layout(state, layout), path)
    spec = ModelSpec.from_config(
        "ssl",
        {
            "arch": "resnet18",
            "family": "ssl",
            "source": "checkpoint",
            "layout": layout,
            "weights": str(path),
        },
    )
    backbone = create_backbone(spec, 10, None)
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(features_of(backbone, x), model(x))
    assert backbone.classifier() is None


def test_checkpoint_in_the_wrong_layout_names_the_keys(tmp_path):
    path = tmp_path / "swav.pth.tar"
    torch.save(official_layout(random_timm("resnet18").state_dict(), "swav"), path)
    spec = ModelSpec.from_config(
        "ssl",
        {
            "arch": "resnet18",
            "family": "ssl",
            "source": "checkpoint",
            "layout": "moco",
            "weights": str(path),
        },
    )
    with pytest.raises(ValueError, match=r"missing keys.*models\.ssl\.arch and \.layout"):
        create_backbone(spec, 10, None)


def test_official_checkpoint_found_in_torch_hub_cache(hub_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    url = "https://dl.fbaipublicfiles.com/deepcluster/swav_800ep_pretrain.pth.tar"
    path = official_checkpoint_path(url)
    assert path == hub_dir / "checkpoints" / "swav_800ep_pretrain.pth.tar"
    path.parent.mkdir(parents=True)
    torch.save(official_layout(random_timm("resnet18").state_dict(), "swav"), path)
    spec = ModelSpec.from_config(
        "swav",
        {
            "arch": "resnet18",
            "family": "swav",
            "source": "checkpoint",
            "layout": "swav",
            "url": url,
        },
    )
    assert create_backbone(spec, 10, None).features(torch.randn(1, 3, 32, 32)).shape == (1, 512)


def test_official_checkpoint_downloaded_when_online(hub_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    published = tmp_path / "published" / "moco_v2_800ep_pretrain.pth.tar"
    published.parent.mkdir()
    torch.save(official_layout(random_timm("resnet18").state_dict(), "moco"), published)
    spec = ModelSpec.from_config(
        "moco",
        {
            "arch": "resnet18",
            "family": "moco",
            "source": "checkpoint",
            "layout": "moco",
            "url": published.as_uri(),
        },
    )
    create_backbone(spec, 10, None)
    assert (hub_dir / "checkpoints" / published.name).is_file()


def test_swav_wide_resnet_matches_the_official_architecture():
    import timm

    import clipmend.models.resnet_wide  # noqa: F401

    model = timm.create_model("swav_resnet50w2", num_classes=0)
    assert sum(p.numel() for p in model.parameters()) == 93_907_072  # SwAV's RN50-w2: 94 M
    assert model.conv1.weight.shape == (128, 3, 7, 7) and model.num_features == 4096
    assert model.layer1[0].conv2.weight.shape == (128, 128, 3, 3)
    assert model.pretrained_cfg["interpolation"] == "bilinear"


def test_open_clip_image_tower_from_a_local_file(tmp_path):
    import open_clip

    from clipmend.clip.loading import register_local_configs

    register_local_configs()
    torch.manual_seed(0)
    model, _, _ = open_clip.create_model_and_transforms("clipmend-tiny", pretrained=None)
    path = tmp_path / "clip.pt"
    torch.save({"state_dict": model.state_dict()}, path)
    spec = ModelSpec.from_config(
        "clip",
        {"arch": "clipmend-tiny", "family": "clip", "source": "open_clip", "weights": str(path)},
    )
    backbone = create_backbone(spec, 10, None)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            features_of(backbone, x), model.eval().encode_image(x), atol=1e-5, rtol=1e-4
        )
    assert backbone.classifier() is None


@pytest.mark.parametrize(
    "entry, error",
    [
        ({"source": "keras"}, r"models\.m\.source is 'keras'; valid"),
        ({"source": "open_clip"}, r"models\.m\.tag is required"),
        ({"source": "checkpoint"}, r"models\.m\.url is required"),
        (
            {"source": "checkpoint", "weights": "w.pth", "layout": "simclr"},
            r"models\.m\.layout is 'simclr'; valid",
        ),
        ({"source": "open_clip", "tag": "openai", "weights": "train"}, r"only source timm"),
    ],
)
def test_inconsistent_specs_name_the_key(entry, error):
    with pytest.raises(ValueError, match=error):
        ModelSpec.from_config("m", {"arch": "x", "family": "f", **entry})


def test_paper_model_overrides_and_unknown_names(tmp_path):
    assert paper_model("swav_resnet50", weights=str(tmp_path / "w.pth")).weights == str(
        tmp_path / "w.pth"
    )
    with pytest.raises(ValueError, match="unknown paper model 'resnet19'; valid"):
        paper_model("resnet19")


def test_unknown_open_clip_tag_lists_valid_ones():
    spec = ModelSpec.from_config(
        "c", {"arch": "RN50", "family": "clip", "source": "open_clip", "tag": "nope"}
    )
    with pytest.raises(ValueError, match=r"models\.c\.tag 'nope'.*valid: \['openai'"):
        create_backbone(spec, 10, None)


def test_timm_arch_without_weights_is_reported():
    spec = ModelSpec.from_config("h", {"arch": "vit_base_resnet50d_224", "family": "vit"})
    with pytest.raises(
        WeightsNotFound, match=r"no pretrained weights for 'vit_base_resnet50d_224'"
    ):
        create_backbone(spec, 1000, None)
