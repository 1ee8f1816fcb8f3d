"""Named procedural backgrounds and the compositing of Fashion-MNIST objects onto them.

Every background has its own mean colour *and* its own texture, so that both a
small CNN and a tiny CLIP can tell them apart at 32x32. All renderers work on a
batch in float32 [0, 1], so `render_batch` can draw many backgrounds of one
kind with a handful of numpy calls. Internally images are channel-first
(3, n, S, S): numpy broadcasts an RGB colour over a length-3 last axis very
slowly, which made channel-last rendering several times slower.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, lru_cache

import numpy as np

from clipmend.text import phrase_words, singular

BACKGROUNDS: tuple[str, ...] = (
    "water", "grass", "sand", "snow", "sky", "brick", "forest", "night", "lava", "wood",
)

OBJECT_SIZE = 28
# Pixels at or above 255 / ALPHA_GAIN (~85) are fully opaque; Fashion-MNIST's
# dark garments would otherwise let the background texture show through them.
ALPHA_GAIN = 3.0
# Object colour = grey ramp from OBJECT_GREY_LO (faint pixels) to white, so
# objects stand out on dark backgrounds (night, forest, lava) ...
OBJECT_GREY_LO = 0.35
# ... and a dark 1-pixel outline (the background darkened by this fraction just
# outside the silhouette) keeps the white parts visible on snow, sky and sand.
OUTLINE_DARKEN = 0.6
# Per-image brightness jitter, small enough to keep mean colours apart.
BRIGHTNESS_JITTER = 0.06

Array = np.ndarray
Renderer = Callable[[int, int, np.random.Generator], Array]


# ---------------------------------------------------------------- helpers

TAU = np.float32(2 * np.pi)


@cache
def _rgb(*values: float) -> Array:
    """An RGB colour as a read-only float32 array broadcastable over (3, n, S, S)."""
    colour = np.asarray(values, dtype=np.float32).reshape(3, 1, 1, 1)
    colour.setflags(write=False)  # cached and shared between calls
    return colour


@lru_cache(maxsize=64)
def _grid(size: int) -> tuple[Array, Array]:
    """Pixel-centre coordinates (yy, xx) in [0, 1), each of shape (1, S, S)."""
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size
    yy, xx = np.meshgrid(axis, axis, indexing="ij")
    return yy[None], xx[None]


@lru_cache(maxsize=64)
def _pixel_grid(size: int) -> tuple[Array, Array]:
    """Integer pixel coordinates (py, px), each of shape (1, S, S)."""
    py, px = np.indices((size, size), dtype=np.int64)
    return py[None], px[None]


@lru_cache(maxsize=64)
def _upsampler(size: int, cells: int) -> Array:
    """(S, cells+1) bilinear interpolation matrix from a coarse lattice to S pixels."""
    pos = (np.arange(size) + 0.5) / size * cells
    lo = np.minimum(pos.astype(int), cells - 1)
    frac = (pos - lo).astype(np.float32)
    mat = np.zeros((size, cells + 1), dtype=np.float32)
    mat[np.arange(size), lo] = 1 - frac
    mat[np.arange(size), lo + 1] = frac
    return mat


@cache
def _bounds(ranges: tuple[tuple[float, float], ...]) -> tuple[Array, Array]:
    """(low, span) arrays of shape (k, 1, 1, 1) for k parameter ranges."""
    lo, hi = np.asarray(ranges, dtype=np.float32).T[..., None, None, None]
    return lo, hi - lo


def _params(rng: np.random.Generator, n: int, *ranges: tuple[float, float]) -> Array:
    """Per-image parameters drawn uniformly from `ranges`, shape (len(ranges), n, 1, 1)."""
    lo, span = _bounds(ranges)
    return lo + span * rng.random((len(ranges), n, 1, 1), dtype=np.float32)


def _noise(rng: np.random.Generator, n: int, size: int) -> Array:
    """Per-pixel white noise in [0, 1), shape (n, S, S)."""
    return rng.random((n, size, size), dtype=np.float32)


def _smooth_noise(rng: np.random.Generator, n: int, size: int, cells: int) -> Array:
    """Bilinear value noise in [0, 1] with `cells` blobs per side, shape (n, S, S)."""
    up = _upsampler(size, cells)
    coarse = rng.random((n, cells + 1, cells + 1), dtype=np.float32)
    return up @ coarse @ up.T


def _lerp(a: Array, b: Array, t: Array) -> Array:
    """Blend colours a -> b by weight t of shape (n, S, S)."""
    return a + (b - a) * t


def _sine(t: Array) -> Array:
    """0.5 + 0.5 * sin(2 pi t): a periodic ramp in [0, 1]."""
    return 0.5 + 0.5 * np.sin(TAU * t)


# ---------------------------------------------------------------- renderers
# Each returns float32 (3, n, S, S), roughly in [0, 1]; random parameters make
# every image different while keeping the kind's colour and texture.


def _water(n: int, size: int, rng: np.random.Generator) -> Array:
    """Blue with horizontal, slightly wobbling wave stripes and bright crests."""
    yy, xx = _grid(size)
    amp, wobble_freq, wobble_phase, freq, phase = _params(
        rng, n, (0.02, 0.05), (1.0, 2.0), (0.0, 1.0), (4.5, 6.5), (0.0, 1.0))
    wave = _sine(freq * (yy + amp * np.sin(TAU * (wobble_freq * xx + wobble_phase))) + phase)
    crest = wave * wave
    crest = crest * crest * crest  # wave**6, a thin highlight on each crest
    body = _lerp(_rgb(0.04, 0.22, 0.55), _rgb(0.20, 0.50, 0.88), wave)
    return body + 0.35 * crest * _rgb(0.8, 0.8, 0.4)


def _grass(n: int, size: int, rng: np.random.Generator) -> Array:
    """Green with vertical blade streaks (noise stretched along y)."""
    rows = 4  # blade length ~ a quarter of the image
    streaks = rng.random((n, rows, size), dtype=np.float32)
    streaks = np.repeat(streaks, -(-size // rows), axis=1)[:, :size]
    blades = 0.7 * streaks + 0.3 * _noise(rng, n, size)
    return _lerp(_rgb(0.08, 0.32, 0.05), _rgb(0.45, 0.80, 0.22), blades)


def _sand(n: int, size: int, rng: np.random.Generator) -> Array:
    """Beige with fine per-pixel speckle, a few dark grains and faint dunes."""
    speckle = _noise(rng, n, size)
    shade = 0.86 + 0.18 * speckle + 0.08 * _smooth_noise(rng, n, size, 2)
    shade *= 1 - np.float32(0.28) * (speckle < 0.08)  # dark grains (float32 keeps it fast)
    return _rgb(0.86, 0.74, 0.50) * shade


def _snow(n: int, size: int, rng: np.random.Generator) -> Array:
    """Near-white with faint blue-grey speckle."""
    speckle = _noise(rng, n, size)
    grey = speckle < 0.12
    return _rgb(0.94, 0.96, 0.99) * (0.97 + 0.03 * speckle) - grey * _rgb(0.22, 0.18, 0.11)


def _sky(n: int, size: int, rng: np.random.Generator) -> Array:
    """Light-blue vertical gradient (darker at the top) with white cloud blobs."""
    yy, _ = _grid(size)
    (threshold,) = _params(rng, n, (0.52, 0.62))
    # Clouds where the smooth noise exceeds the threshold, fading in over 0.12.
    cloud = np.maximum(_smooth_noise(rng, n, size, 3) - threshold, 0) * (0.95 / 0.12)
    cloud = np.minimum(cloud, 0.95)
    gradient = _lerp(_rgb(0.28, 0.52, 0.90), _rgb(0.60, 0.78, 0.98), yy)
    return _lerp(gradient, _rgb(0.98, 0.98, 1.0), cloud)


def _brick(n: int, size: int, rng: np.random.Generator) -> Array:
    """Red-brown running-bond brick grid with 1-px light mortar lines."""
    py, px = _pixel_grid(size)
    rows_per_image, off_y, off_x, seed = _params(rng, n, (5.0, 6.5), (0, 64), (0, 64), (0, 2**20))
    height = np.maximum(np.rint(size / rows_per_image).astype(np.int64), 3)
    width = np.rint(2.2 * height).astype(np.int64)
    y = py + off_y.astype(np.int64)
    row = y // height
    x = px + off_x.astype(np.int64) + (row & 1) * (width // 2)
    col = x // width
    mortar = (y - row * height == 0) | (x - col * width == 0)
    # Integer hash of the brick's (row, col): a stable per-brick tone.
    tone = (((row * 73856093) ^ (col * 19349663) ^ seed.astype(np.int64)) & 255).astype(np.float32)
    img = _rgb(0.66, 0.24, 0.16) * (0.82 + tone * np.float32(0.30 / 255))
    return np.where(mortar, _rgb(0.84, 0.80, 0.72), img)


def _forest(n: int, size: int, rng: np.random.Generator) -> Array:
    """Dark green canopy blobs crossed by darker vertical tree trunks."""
    canopy = 0.75 * _smooth_noise(rng, n, size, 4) + 0.25 * _noise(rng, n, size)
    img = _lerp(_rgb(0.03, 0.15, 0.04), _rgb(0.16, 0.42, 0.14), canopy)
    # 4 trunks, each 1.6-2.9 % of the width on either side of its centre.
    centre, half_width = _params(rng, 4 * n, (0.0, 1.0), (0.025, 0.045)).reshape(2, n, 4, 1)
    _, xx = _grid(size)
    is_trunk = (np.abs(xx[0, :1] - centre) < half_width).any(axis=1)  # (n, S) columns
    return np.where(is_trunk[:, None, :], _rgb(0.09, 0.06, 0.03), img)


def _night(n: int, size: int, rng: np.random.Generator) -> Array:
    """Near-black navy, a little lighter at the horizon, with sparse white stars."""
    yy, _ = _grid(size)
    star = _noise(rng, n, size)
    # star < 0.015 -> about 15 stars on 32x32, brightness 0.7..1.0 from the same draw
    brightness = (0.7 + 20 * star) * (star < 0.015)
    return _lerp(_rgb(0.01, 0.02, 0.08), _rgb(0.04, 0.06, 0.20), yy) + brightness


def _lava(n: int, size: int, rng: np.random.Generator) -> Array:
    """Dark red crust with glowing orange-yellow cracks and blobs."""
    ridge = 1 - np.abs(2 * _smooth_noise(rng, n, size, 4) - 1)  # 1 on the noise's mid contour
    ridge *= ridge
    cracks = ridge * ridge
    cracks = cracks * cracks * ridge  # ridge**10: thin bright lines
    blobs = np.minimum(np.maximum(_smooth_noise(rng, n, size, 3) - 0.68, 0) * (1 / 0.12), 1)
    glow = np.maximum(cracks, blobs)
    hot = _lerp(_rgb(0.95, 0.35, 0.03), _rgb(1.0, 0.88, 0.30), glow)
    return _rgb(0.30, 0.03, 0.02) + (hot - _rgb(0.30, 0.03, 0.02)) * glow


def _wood(n: int, size: int, rng: np.random.Generator) -> Array:
    """Brown planks with wavy, roughly vertical dark grain lines."""
    yy, xx = _grid(size)
    amp, wave_freq, wave_phase, freq = _params(
        rng, n, (0.03, 0.08), (0.5, 1.5), (0.0, 1.0), (6.0, 9.0))
    warp = 0.06 * _smooth_noise(rng, n, size, 2)
    grain = _sine(freq * (xx + warp + amp * np.sin(TAU * (wave_freq * yy + wave_phase))))
    shade = 1.0 - 0.45 * grain * grain * grain + 0.06 * _noise(rng, n, size)
    return _rgb(0.62, 0.40, 0.20) * shade


_RENDERERS: dict[str, Renderer] = {
    "water": _water, "grass": _grass, "sand": _sand, "snow": _snow, "sky": _sky,
    "brick": _brick, "forest": _forest, "night": _night, "lava": _lava, "wood": _wood,
}
assert tuple(_RENDERERS) == BACKGROUNDS


def _check_name(name: str) -> None:
    """Raise ValueError for a name that is not a background."""
    if name not in _RENDERERS:
        raise ValueError(f"unknown background {name!r}; valid names: {', '.join(BACKGROUNDS)}")


def _to_uint8(img: Array, scale: Array) -> Array:
    """Channel-first float (3, n, S, S) times `scale` (n, 1, 1) -> uint8 (n, S, S, 3), rounded."""
    img = img * (np.float32(255) * scale) + np.float32(0.5)
    np.clip(img, 0, 255, out=img)
    out = np.empty((*img.shape[1:], 3), dtype=np.uint8)
    for channel in range(3):  # strided writes; a transpose-copy is much slower
        out[..., channel] = img[channel]
    return out


def _render_many(name: str, n: int, size: int, rng: np.random.Generator) -> Array:
    """n backgrounds of one kind, (n, S, S, 3) uint8, with brightness jitter."""
    _check_name(name)
    img = _RENDERERS[name](n, size, rng)
    gain = rng.uniform(1 - BRIGHTNESS_JITTER, 1 + BRIGHTNESS_JITTER, (n, 1, 1)).astype(np.float32)
    return _to_uint8(img, gain)


def render_background(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Render one (size, size, 3) uint8 background of the given name."""
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    return _render_many(name, 1, size, rng)[0]


# ---------------------------------------------------------------- phrases

_STOP_WORDS = frozenset({"on", "in", "at", "under", "the", "a", "an", "of"})

# Whole phrases first (after dropping leading stop words), then single words.
_PHRASES: dict[str, str] = {
    "night sky": "night", "starry sky": "night", "sky at night": "night",
    "the air": "sky", "under water": "water", "brick wall": "brick",
    "wooden floor": "wood", "wooden table": "wood",
}
_WORDS: dict[str, tuple[str, ...]] = {
    "water": ("water", "underwater", "watery", "sea", "ocean", "lake", "river", "pond", "wave"),
    "grass": ("grass", "grassy", "lawn", "meadow", "field", "grassland", "pasture", "turf"),
    "sand": ("sand", "sandy", "beach", "desert", "dune"),
    "snow": ("snow", "snowy", "snowfield", "snowdrift", "snowbank"),
    "sky": ("sky", "cloud", "cloudy", "air"),
    "brick": ("brick", "brickwork"),
    "forest": ("forest", "woods", "woodland", "jungle", "rainforest", "tree"),
    "night": ("night", "nighttime", "midnight", "darkness", "star", "starry"),
    "lava": ("lava", "volcano", "volcanic", "magma", "molten"),
    "wood": ("wood", "wooden", "timber", "plank", "parquet"),
}
_WORD_TO_NAME: dict[str, str] = {w: name for name, words in _WORDS.items() for w in words}


def _lookup_word(word: str) -> str | None:
    """Background for one word, as it is or in the singular ("waves", "skies")."""
    return _WORD_TO_NAME.get(word) or _WORD_TO_NAME.get(singular(word))


def resolve_background(phrase: str) -> str:
    """Map a free-text background phrase ("on a grassy field") to a canonical name."""
    words = phrase_words(phrase, _STOP_WORDS, keep_one=False)
    joined = " ".join(words)
    if joined in _PHRASES:
        return _PHRASES[joined]
    found = {name for name in map(_lookup_word, words) if name is not None}
    if len(found) == 1:
        return found.pop()
    reason = f"is ambiguous ({', '.join(sorted(found))})" if found else "is not a known background"
    raise ValueError(
        f"background phrase {phrase!r} {reason}; valid names: {', '.join(BACKGROUNDS)}")


# ---------------------------------------------------------------- compositing


def _check_objects(objects: Array) -> None:
    """Raise ValueError unless objects is (n, 28, 28) uint8 grayscale."""
    shape_ok = objects.ndim == 3 and objects.shape[1:] == (OBJECT_SIZE, OBJECT_SIZE)
    if not shape_ok or objects.dtype != np.uint8:
        raise ValueError(f"objects must be {OBJECT_SIZE}x{OBJECT_SIZE} uint8 grayscale, "
                         f"got {objects.dtype} of shape {objects.shape}")


def _check_backgrounds(bgs: Array) -> int:
    """Return S for (n, S, S, 3) uint8 backgrounds with S >= 28, else raise ValueError."""
    if bgs.ndim != 4 or bgs.shape[1] != bgs.shape[2] or bgs.shape[3] != 3 or bgs.dtype != np.uint8:
        raise ValueError(f"background must be (S, S, 3) uint8, got {bgs.shape[1:]} {bgs.dtype}")
    if bgs.shape[1] < OBJECT_SIZE:
        raise ValueError(f"background size {bgs.shape[1]} is below the {OBJECT_SIZE}px object")
    return bgs.shape[1]


def _dilate(mask: Array) -> Array:
    """3x3 grey-scale dilation (max filter) of (n, S, S) arrays."""
    padded = np.pad(mask, ((0, 0), (1, 1), (1, 1)))
    rows = np.maximum(np.maximum(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])
    return np.maximum(np.maximum(rows[:, :, :-2], rows[:, :, 1:-1]), rows[:, :, 2:])


def _placed(objects: Array, offsets: Array, size: int) -> tuple[Array, Array]:
    """Objects (n, 28, 28) placed at (top, left) on S x S: (intensity, alpha), float32 [0, 1]."""
    intensity = np.zeros((len(objects), size, size), dtype=np.float32)
    for i, (top, left) in enumerate(offsets):
        intensity[i, top:top + OBJECT_SIZE, left:left + OBJECT_SIZE] = objects[i]
    intensity *= np.float32(1 / 255)
    return intensity, np.minimum(intensity * ALPHA_GAIN, 1)


def object_masks(objects: Array, offsets: Array, size: int) -> Array:
    """The objects' opacity where `_blend` pastes them, (n, S, S) uint8 (255 = fully object)."""
    return np.rint(_placed(objects, offsets, size)[1] * 255).astype(np.uint8)


def _blend_chunk(objects: Array, backgrounds: Array, offsets: Array) -> Array:
    """Paste objects (n, 28, 28) onto backgrounds (n, S, S, 3) at (top, left) offsets."""
    intensity, alpha = _placed(objects, offsets, backgrounds.shape[1])
    outline = _dilate(alpha) - alpha  # >= 0: ring just outside the silhouette
    # out = bg * (1 - 0.6 * outline) * (1 - alpha) + colour * alpha, per pixel;
    # the two terms sum to <= 255, so no clipping is needed.
    keep = (1 - OUTLINE_DARKEN * outline) * (1 - alpha)
    paint = (OBJECT_GREY_LO + (1 - OBJECT_GREY_LO) * intensity) * alpha * 255 + 0.5
    out = np.empty_like(backgrounds)
    for channel in range(3):  # per channel: broadcasting over a length-3 axis is slow
        out[..., channel] = backgrounds[..., channel] * keep + paint
    return out


def _blend(objects: Array, backgrounds: Array, offsets: Array, chunk: int = 512) -> Array:
    """`_blend_chunk` over chunks of images, to keep the float temporaries in cache."""
    out = np.empty_like(backgrounds)
    for start in range(0, len(objects), chunk):
        part = slice(start, start + chunk)
        out[part] = _blend_chunk(objects[part], backgrounds[part], offsets[part])
    return out


def _random_offsets(n: int, size: int, rng: np.random.Generator) -> Array:
    """Uniform (top, left) positions that keep a 28x28 object inside S x S."""
    return rng.integers(0, size - OBJECT_SIZE + 1, size=(n, 2))


def composite_at(obj: np.ndarray, background: np.ndarray, top: int, left: int) -> np.ndarray:
    """Paste a 28x28 uint8 object onto an (S, S, 3) uint8 background at (top, left)."""
    _check_objects(obj[None])
    size = _check_backgrounds(background[None])
    if not (0 <= top <= size - OBJECT_SIZE and 0 <= left <= size - OBJECT_SIZE):
        raise ValueError(f"offset ({top}, {left}) puts the object outside a {size}px background")
    return _blend(obj[None], background[None], np.array([[top, left]]))[0]


def composite(obj: np.ndarray, background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Paste a 28x28 uint8 object onto an (S, S, 3) uint8 background at a random offset.

    The object's intensity is its alpha (x3, so garments are opaque) and its colour
    (grey 0.35 .. white); a faint dark outline keeps it visible on bright backgrounds.
    """
    _check_objects(obj[None])
    size = _check_backgrounds(background[None])
    return _blend(obj[None], background[None], _random_offsets(1, size, rng))[0]


def render_batch(
    objects: np.ndarray, backgrounds: Sequence[str], size: int, rng: np.random.Generator
) -> np.ndarray:
    """Composite N objects (N, 28, 28) onto N named backgrounds -> (N, size, size, 3) uint8."""
    return render_batch_with_masks(objects, backgrounds, size, rng)[0]


def render_batch_with_masks(
    objects: np.ndarray, backgrounds: Sequence[str], size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """`render_batch` plus each object's mask, (N, size, size) uint8 opacity (`object_masks`)."""
    objects = np.asarray(objects)
    names = list(backgrounds)
    _check_objects(objects)
    if len(names) != len(objects):
        raise ValueError(f"{len(objects)} objects but {len(names)} background names")
    if size < OBJECT_SIZE:
        raise ValueError(f"size {size} is smaller than the {OBJECT_SIZE}px object")
    for name in dict.fromkeys(names):  # first unknown name in input order
        _check_name(name)
    canvas = np.empty((len(names), size, size, 3), dtype=np.uint8)
    kinds = np.asarray(names, dtype=object)
    # Render each kind in one vectorised call, in the fixed BACKGROUNDS order, so
    # the rng draws (and hence the images) depend only on the rng state and inputs.
    for name in BACKGROUNDS:
        idx = np.flatnonzero(kinds == name)
        if len(idx):
            canvas[idx] = _render_many(name, len(idx), size, rng)
    offsets = _random_offsets(len(names), size, rng)
    return _blend(objects, canvas, offsets), object_masks(objects, offsets, size)
