"""Tests for the demo world's procedural backgrounds, phrase resolution and compositing."""

from __future__ import annotations

import time

import numpy as np
import pytest

from clipmend.demo.textures import (
    BACKGROUNDS,
    composite,
    composite_at,
    render_background,
    render_batch,
    render_batch_with_masks,
    resolve_background,
)

SIZE = 32


def _samples(name: str, count: int, seed: int) -> np.ndarray:
    """`count` fresh 32x32 backgrounds of one kind, as float (count, S, S, 3)."""
    rng = np.random.default_rng(seed)
    return np.stack([render_background(name, SIZE, rng) for _ in range(count)]).astype(np.float64)


def _features(images: np.ndarray) -> np.ndarray:
    """Mean colour, colour spread and mean |gradient| along x and y, per image."""
    grey = images.mean(axis=-1)
    return np.concatenate(
        [
            images.mean(axis=(1, 2)),
            images.std(axis=(1, 2)),
            np.abs(np.diff(grey, axis=2)).mean(axis=(1, 2))[:, None],
            np.abs(np.diff(grey, axis=1)).mean(axis=(1, 2))[:, None],
        ],
        axis=1,
    )


# ---------------------------------------------------------------- backgrounds


@pytest.mark.parametrize("name", BACKGROUNDS)
@pytest.mark.parametrize("size", [28, 32, 64])
def test_render_background_shape_and_dtype(name: str, size: int) -> None:
    img = render_background(name, size, np.random.default_rng(0))
    assert img.shape == (size, size, 3)
    assert img.dtype == np.uint8


@pytest.mark.parametrize("name", BACKGROUNDS)
def test_render_background_is_deterministic_per_seed(name: str) -> None:
    first = render_background(name, SIZE, np.random.default_rng(123))
    second = render_background(name, SIZE, np.random.default_rng(123))
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", BACKGROUNDS)
def test_render_background_varies_with_seed(name: str) -> None:
    first = render_background(name, SIZE, np.random.default_rng(1))
    second = render_background(name, SIZE, np.random.default_rng(2))
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("name", BACKGROUNDS)
def test_render_background_is_textured(name: str) -> None:
    img = render_background(name, SIZE, np.random.default_rng(5)).astype(float)
    assert img.mean(axis=-1).std() > 2.0  # not a flat colour


def test_mean_colours_are_far_apart() -> None:
    means = np.stack(
        [_samples(name, 40, seed=i).mean(axis=(0, 1, 2)) for i, name in enumerate(BACKGROUNDS)])
    dist = np.linalg.norm(means[:, None] - means[None], axis=-1)
    np.fill_diagonal(dist, np.inf)
    i, j = np.unravel_index(dist.argmin(), dist.shape)
    assert dist.min() > 30, f"{BACKGROUNDS[i]} and {BACKGROUNDS[j]} are only {dist.min():.1f} apart"


def test_stripe_directions() -> None:
    """Water waves run horizontally; grass blades and wood grain run vertically."""
    for name, horizontal in [("water", True), ("grass", False), ("wood", False)]:
        feats = _features(_samples(name, 20, seed=3))
        grad_x, grad_y = feats[:, 6].mean(), feats[:, 7].mean()
        assert (grad_y > grad_x) == horizontal, f"{name}: |dx|={grad_x:.1f} |dy|={grad_y:.1f}"


def test_simple_classifier_separates_backgrounds() -> None:
    """A nearest-centroid classifier on colour + texture features is >95 % accurate."""
    train = [_features(_samples(name, 60, seed=100 + i)) for i, name in enumerate(BACKGROUNDS)]
    test = [_features(_samples(name, 50, seed=200 + i)) for i, name in enumerate(BACKGROUNDS)]
    all_train = np.concatenate(train)
    mu, sigma = all_train.mean(axis=0), all_train.std(axis=0) + 1e-9
    centroids = np.stack([((f - mu) / sigma).mean(axis=0) for f in train])
    x_test = (np.concatenate(test) - mu) / sigma
    y_test = np.repeat(np.arange(len(BACKGROUNDS)), 50)
    pred = np.linalg.norm(x_test[:, None] - centroids[None], axis=-1).argmin(axis=1)
    assert len(y_test) == 500
    assert (pred == y_test).mean() > 0.95


def test_rendering_is_fast() -> None:
    """1,000 single renders; the budget is 10,000 in well under 2 s, so 1 s here is lenient."""
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for i in range(1000):
        render_background(BACKGROUNDS[i % len(BACKGROUNDS)], SIZE, rng)
    assert time.perf_counter() - start < 1.0


def test_unknown_background_name() -> None:
    with pytest.raises(ValueError) as err:
        render_background("marble", SIZE, np.random.default_rng(0))
    assert "'marble'" in str(err.value)
    assert all(name in str(err.value) for name in BACKGROUNDS)


# ---------------------------------------------------------------- phrases


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("in the water", "water"), ("on water", "water"), ("waters", "water"),
        ("underwater", "water"), ("Under the sea.", "water"),
        ("grassy field", "grass"), ("lawn", "grass"), ("on a meadow", "grass"),
        ("beach", "sand"), ("in the desert", "sand"), ("sandy", "sand"),
        ("snowy", "snow"), ("snowfield", "snow"), ("SNOW", "snow"),
        ("sky", "sky"), ("clouds", "sky"), ("in the air", "sky"), ("skies", "sky"),
        ("brick wall", "brick"), ("bricks", "brick"), ("against a brick wall", "brick"),
        ("forest", "forest"), ("in the woods", "forest"), ("jungle", "forest"),
        ("at night", "night"), ("night sky", "night"), ("darkness", "night"),
        ("lava", "lava"), ("volcano", "lava"), ("magma!", "lava"),
        ("wooden floor", "wood"), ("on a wooden table", "wood"), ("wood", "wood"),
    ],
)
def test_resolve_background(phrase: str, expected: str) -> None:
    assert resolve_background(phrase) == expected


@pytest.mark.parametrize("name", BACKGROUNDS)
def test_resolve_background_accepts_canonical_names(name: str) -> None:
    assert resolve_background(name) == name


@pytest.mark.parametrize("phrase", ["on a purple carpet", "", "the"])
def test_resolve_background_unknown(phrase: str) -> None:
    with pytest.raises(ValueError) as err:
        resolve_background(phrase)
    assert repr(phrase) in str(err.value)
    assert all(name in str(err.value) for name in BACKGROUNDS)


def test_resolve_background_ambiguous() -> None:
    with pytest.raises(ValueError, match="ambiguous"):
        resolve_background("snowy forest")


# ---------------------------------------------------------------- compositing


def _blob() -> np.ndarray:
    """A 28x28 test object: a bright square with a faint rim, zero elsewhere."""
    obj = np.zeros((28, 28), dtype=np.uint8)
    obj[8:20, 10:18] = 40
    obj[9:19, 11:17] = 255
    return obj


def _dilated_support(obj: np.ndarray) -> np.ndarray:
    """Pixels that are part of obj or touch it (8-neighbourhood), as a bool mask."""
    padded = np.pad(obj > 0, 1)
    out = np.zeros_like(padded)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            out |= np.roll(np.roll(padded, dy, axis=0), dx, axis=1)
    return out[1:-1, 1:-1]


@pytest.mark.parametrize("name", ["snow", "night"])
def test_composite_at_changes_only_the_object(name: str) -> None:
    bg = render_background(name, 40, np.random.default_rng(0))
    obj = _blob()
    out = composite_at(obj, bg, top=5, left=9)
    assert out.shape == bg.shape and out.dtype == np.uint8
    region = np.zeros((40, 40), dtype=bool)
    region[5:33, 9:37] = _dilated_support(obj)
    changed = (out != bg).any(axis=-1)
    assert not changed[~region].any()
    # Fully opaque pixels take the object's own (white) colour on any background.
    assert (out[5:33, 9:37][obj == 255] == 255).all()


def test_composite_object_visible_on_snow_and_night() -> None:
    obj = _blob()
    for name in ("snow", "night"):
        bg = render_background(name, 32, np.random.default_rng(0))
        out = composite_at(obj, bg, 2, 2).astype(float)
        diff = np.abs(out - bg.astype(float)).sum(axis=-1)
        assert diff.max() > 100, name  # outline (snow) or white body (night) stands out


def test_composite_random_offset_is_deterministic_and_uniform() -> None:
    bg = render_background("grass", 32, np.random.default_rng(0))
    dot = np.zeros((28, 28), dtype=np.uint8)
    dot[0, 0] = 255  # marks the object's top-left corner
    first = composite(dot, bg, np.random.default_rng(7))
    np.testing.assert_array_equal(first, composite(dot, bg, np.random.default_rng(7)))
    rng = np.random.default_rng(8)
    corners = set()
    for _ in range(300):
        out = composite(dot, bg, rng)
        ys, xs = np.nonzero((out == 255).all(axis=-1))
        corners.add((int(ys.min()), int(xs.min())))
    assert corners == {(y, x) for y in range(5) for x in range(5)}


def test_composite_blank_object_changes_nothing() -> None:
    bg = render_background("lava", 32, np.random.default_rng(0))
    blank = np.zeros((28, 28), dtype=np.uint8)
    np.testing.assert_array_equal(composite(blank, bg, np.random.default_rng(0)), bg)


def test_composite_rejects_bad_inputs() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        composite(_blob(), np.zeros((20, 20, 3), np.uint8), rng)
    with pytest.raises(ValueError):
        composite(_blob().astype(float), np.zeros((32, 32, 3), np.uint8), rng)
    with pytest.raises(ValueError):
        composite_at(_blob(), np.zeros((32, 32, 3), np.uint8), top=5, left=0)


# ---------------------------------------------------------------- batches


def test_render_batch() -> None:
    objs = np.stack([_blob()] * 20)
    names = [BACKGROUNDS[i % len(BACKGROUNDS)] for i in range(20)]
    out = render_batch(objs, names, SIZE, np.random.default_rng(3))
    assert out.shape == (20, SIZE, SIZE, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, render_batch(objs, names, SIZE, np.random.default_rng(3)))
    assert not np.array_equal(out, render_batch(objs, names, SIZE, np.random.default_rng(4)))
    # Each image keeps its own background's colour around the object.
    night, snow = out[7].astype(float), out[3].astype(float)
    assert np.median(night) < 60
    assert np.median(snow) > 200


def test_render_batch_masks_are_the_pasted_objects_opacity() -> None:
    rng = np.random.default_rng(5)
    objs = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8) * (rng.random((6, 28, 28)) < 0.5)
    objs = objs.astype(np.uint8)
    names = ["sky", "night", "lava", "sky", "wood", "snow"]
    out, masks = render_batch_with_masks(objs, names, SIZE, np.random.default_rng(3))
    np.testing.assert_array_equal(out, render_batch(objs, names, SIZE, np.random.default_rng(3)))
    assert masks.shape == (6, SIZE, SIZE) and masks.dtype == np.uint8
    opacity = np.rint(np.minimum(objs / 255 * 3, 1) * 255)
    for i in range(6):
        tops, lefts = np.nonzero(masks[i])
        top, left = tops.min() - np.nonzero(objs[i])[0].min(), lefts.min() - np.nonzero(objs[i])[1].min()
        np.testing.assert_array_equal(masks[i, top:top + 28, left:left + 28], opacity[i])
        assert masks[i].sum() == opacity[i].sum()  # nothing outside the object's square
        # where the mask is 255 the object hides the background: pasting it at (top, left)
        # onto any other background gives the same pixels there
        other = composite_at(objs[i], np.zeros((SIZE, SIZE, 3), np.uint8), top, left)
        np.testing.assert_array_equal(other[masks[i] == 255], out[i][masks[i] == 255])


def test_render_batch_rejects_bad_inputs() -> None:
    rng = np.random.default_rng(0)
    objs = np.stack([_blob()] * 2)
    with pytest.raises(ValueError, match="2 objects but 1"):
        render_batch(objs, ["sky"], SIZE, rng)
    with pytest.raises(ValueError, match="'marble'"):
        render_batch(objs, ["sky", "marble"], SIZE, rng)
    with pytest.raises(ValueError):
        render_batch(objs, ["sky", "sky"], 20, rng)
