import hashlib

import numpy as np
import pandas as pd
import pytest

from clipmend.data.images import load_image, load_mask
from clipmend.data.registry import has_attribute, has_mask, prepare_dataset
from clipmend.demo.world import (
    BACKGROUND_PHRASES,
    WorldSpec,
    build_world,
    captions,
    train_background_distribution,
)
from tests.unit.test_generate import WORLD


def test_world_has_the_spurious_correlation_and_uniform_debug_split():
    spec = WorldSpec.from_config({**WORLD, "n_train_per_class": 200, "n_val_per_class": 100, "n_test_per_class": 50})
    images, _, index = build_world(spec)
    assert images.shape == (len(index), 32, 32, 3) and images.dtype == np.uint8
    train = index[index["split"] == "train"]
    share = (train["background"] == train["class_name"].map(lambda c: WORLD["common_backgrounds"][c][0])).mean()
    assert 0.88 < share < 0.95  # 0.9 + 0.1/10 expected
    val = index[index["split"] == "val"]
    counts = val["background"].value_counts()
    assert len(counts) == 10 and counts.min() > 60
    assert index["id"].is_unique


def test_world_is_deterministic():
    spec = WorldSpec.from_config(WORLD)
    a, ma, ia = build_world(spec)
    b, mb, ib = build_world(spec)
    assert np.array_equal(a, b) and np.array_equal(ma, mb) and ia.equals(ib)


def test_train_distribution_sums_to_one():
    spec = WorldSpec.from_config(WORLD)
    p = train_background_distribution(spec, "bag")
    assert abs(p.sum() - 1) < 1e-9 and p.argmax() == 8


@pytest.mark.parametrize("key,value,match", [
    ("correlation", 1.5, "correlation"),
    ("n_train_per_class", 700, "n_train_per_class"),
    ("common_backgrounds", {"bag": ["lava"]}, "t-shirt"),
    ("common_backgrounds", {c: ["mars"] for c in WORLD["common_backgrounds"]}, "mars"),
    ("clip_correlation", -0.1, "clip_correlation"),
    ("clip_caption_background", 2, "clip_caption_background"),
    ("mode", "triangles", "mode must be one of"),
    ("test_layout", "grid", "test_layout"),
    ("classes", ["t-shirt", "shoe"], "shoe"),
    ("n_test_per_class", 1000, "held-out objects"),
])
def test_bad_world_config_is_named(key, value, match):
    with pytest.raises(ValueError, match=match):
        WorldSpec.from_config({**WORLD, key: value})


def test_captions_phrase_backgrounds():
    out = captions(["bag", "coat"], ["lava", "snow"], seed=0)
    assert out[0].startswith(("a photo of a bag ", "a photo of the bag "))
    assert out[1].startswith(("a photo of a coat ", "a photo of the coat "))
    assert _phrase(out[0], "bag") in BACKGROUND_PHRASES["lava"]
    assert _phrase(out[1], "coat") in BACKGROUND_PHRASES["snow"]


def _phrase(caption: str, class_name: str) -> str:
    """What a caption says after the class name ("" when it names no background)."""
    return caption.split(class_name, 1)[1].strip()


def test_prepare_dataset_writes_index_with_image_refs(tmp_path):
    index, classes = prepare_dataset("demo", tmp_path, WORLD)
    assert classes[0] == "t-shirt" and (tmp_path / "images.npy").exists()
    assert index["image"].iloc[0].endswith("#0")
    assert has_attribute(index) and index["attribute"].equals(index["background"])
    assert has_mask(index) and index["mask"].iloc[3] == f"{tmp_path / 'masks.npy'}#3"
    with pytest.raises(ValueError, match="nosuchkind"):
        prepare_dataset("nosuchkind", tmp_path, {})


def test_masks_do_not_change_the_rendered_images():
    # sha256 of build_world's images for WORLD as rendered before masks were recorded:
    # recording masks must not change a single rng draw or pixel
    images, _, _ = build_world(WorldSpec.from_config(WORLD))
    assert hashlib.sha256(images.tobytes()).hexdigest() == (
        "fd09ce0be8a0d6b2dcfff52937ee8c67c920c50a5551a070419369ee92dbadcf"
    )


def test_masks_cover_the_object_where_it_was_pasted(tmp_path):
    index, _ = prepare_dataset("demo", tmp_path, WORLD)
    for row in (0, 57, len(index) - 1):
        mask = load_mask(index["mask"].iat[row])
        assert mask.shape == (32, 32) and mask.dtype == np.float32
        assert mask.min() == 0 and mask.max() == 1
        ys, xs = np.nonzero(mask)
        assert ys.max() - ys.min() < 28 and xs.max() - xs.min() < 28  # one 28x28 object
        # fully opaque object pixels are painted grey-to-white (>= 0.35 * 255) in every channel
        image = np.asarray(load_image(index["image"].iat[row]))
        assert image[mask == 1].min() >= 144  # (0.35 + 0.65 / 3) * 255


PREMISE = {**WORLD, "classes": ["t-shirt", "trouser", "bag"], "n_train_per_class": 20, "n_val_per_class": 10,
           "n_test_per_class": 30, "n_clip_per_class": 400, "clip_correlation": 0.9, "clip_caption_background": 0.25}


def _common_share(index, split, spec):
    rows = index[index["split"] == split]
    common = rows["class_name"].map(lambda c: spec.common_backgrounds[c][0])
    return (rows["background"] == common).mean()


@pytest.mark.parametrize("correlation,expected", [(0.9, 0.9 + 0.1 / 10), (None, 0.1), (0.5, 0.5 + 0.5 / 10)])
def test_clip_captions_carry_the_configured_correlation(correlation, expected):
    spec = WorldSpec.from_config({**PREMISE, "clip_correlation": correlation})
    _, _, index = build_world(spec)
    # 1200 captioned images: a binomial share's standard error is <= 0.015
    assert abs(_common_share(index, "clip", spec) - expected) < 0.045
    clip = index[index["split"] == "clip"]
    named = [_phrase(c, n) in BACKGROUND_PHRASES[b] for c, n, b in zip(clip["caption"], clip["class_name"],
                                                                       clip["background"])]
    assert abs(np.mean(named) - 0.25) < 0.045
    assert (index.loc[index["split"] != "clip", "caption"] == "").all()


def test_clip_captions_name_the_class_in_template_words():
    _, _, index = build_world(WorldSpec.from_config(PREMISE))
    clip = index[index["split"] == "clip"]
    for caption, name in zip(clip["caption"], clip["class_name"]):
        assert caption.startswith((f"a photo of a {name}", f"a photo of the {name}"))


def test_paired_test_split_shows_every_object_on_every_background():
    spec = WorldSpec.from_config({**PREMISE, "test_layout": "paired"})
    images, masks, index = build_world(spec)
    test = index[index["split"] == "test"]
    assert len(test) == 3 * 30 * 10 and index["id"].is_unique
    sizes = test.groupby(["class_name", "background"]).size()
    assert len(sizes) == 30 and (sizes == 30).all()
    # the same object (the same mask shape) under every background of one class
    first = test.index[test["class_name"] == "trouser"][:10]
    assert sorted(test.loc[first, "background"]) == sorted(spec.backgrounds)
    assert len({int(masks[i].astype(bool).sum()) for i in first}) == 1
    # the index names the object, so intervals draw objects, not images: one per object, 10 images each
    assert test.loc[first, "object"].nunique() == 1
    assert (test.groupby("object")["background"].nunique() == 10).all() and test["object"].nunique() == 90
    rest = index[index["split"] != "test"]
    assert rest["object"].equals(rest["id"])


@pytest.mark.parametrize("mode,n_backgrounds", [("backgrounds", 10), ("binary", 3)])
def test_every_coarse_test_group_has_the_configured_size(mode, n_backgrounds):
    from clipmend.spurious.groups import coarse_groups, common_attributes

    spec = WorldSpec.from_config({**PREMISE, "mode": mode, "test_layout": "paired", "n_train_per_class": 200})
    _, _, index = build_world(spec)
    train, test = (index[index["split"] == s] for s in ("train", "test"))
    common = common_attributes(train["label"].to_numpy(), train["attribute"].to_numpy())
    assert {label: values for label, values in common.items()} == {0: {"water"}, 1: {"grass"}, 2: {"lava"}}
    coarse = coarse_groups(test["label"].to_numpy(), test["attribute"].to_numpy(), common)
    sizes = pd.crosstab(test["class_name"], coarse)
    assert (sizes["common"] == spec.n_test).all()
    assert (sizes["uncommon"] == spec.n_test * (n_backgrounds - 1)).all()
    assert set(index["background"]) == set(spec.backgrounds) and len(spec.backgrounds) == n_backgrounds


def test_binary_mode_backgrounds_are_the_classes_attributes():
    spec = WorldSpec.from_config({**PREMISE, "mode": "binary", "n_train_per_class": 300})
    assert spec.backgrounds == ("water", "grass", "lava")
    _, _, index = build_world(spec)
    assert list(index["label"].unique()) == [0, 1, 2]
    assert 0.88 < _common_share(index, "train", spec) < 0.97  # 0.9 + 0.1 / 3
    with pytest.raises(ValueError, match="binary"):
        WorldSpec.from_config({**PREMISE, "mode": "binary",
                               "common_backgrounds": {**WORLD["common_backgrounds"], "bag": ["water"]}})


def test_the_demo_config_world_has_the_papers_premise_sizes():
    # the shipped demo: paired test split (sizes as the test above checks) of >= 500 objects per
    # class, so every coarse group (class x common/uncommon) has >= 500 test images
    import yaml

    from tests.workflow_utils import REPO

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    spec = WorldSpec.from_config(config["datasets"]["demo"]["options"])
    assert spec.test_layout == "paired" and spec.n_test >= 500
    assert spec.clip_correlation is not None and spec.clip_correlation > 1 / len(spec.backgrounds)
    assert 0 < spec.clip_caption_background < 1
