import hashlib

import numpy as np
import pytest

from clipmend.data.images import load_image, load_mask
from clipmend.data.registry import has_attribute, has_mask, prepare_dataset
from clipmend.demo.world import WorldSpec, build_world, captions, train_background_distribution
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
])
def test_bad_world_config_is_named(key, value, match):
    with pytest.raises(ValueError, match=match):
        WorldSpec.from_config({**WORLD, key: value})


def test_captions_phrase_backgrounds():
    out = captions(["bag", "coat"], ["lava", "snow"], seed=0)
    assert out[0].startswith("a photo of a bag ") and out[1].startswith("a photo of a coat ")


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
