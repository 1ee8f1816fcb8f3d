"""The demo world: Fashion-MNIST objects on named backgrounds, with a spurious correlation.

In the train split each class sits on its common backgrounds most of the time; the
val (debug) split spreads backgrounds evenly, and the test split either does the same
(``test_layout: random``) or shows every test object on every background (``paired``),
so a model that learned the background shortcut fails there on uncommon backgrounds.
Every image records its true background (also as the generic ``attribute``) and the
mask of its object. A ``clip`` split, captioned, trains the demo CLIP: drawn with
``clip_correlation`` and naming the background in a ``clip_caption_background`` share
of captions, it gives the CLIP the shortcut and the words for it, as web captions do.

``mode: backgrounds`` uses all ten backgrounds; ``mode: binary`` is Waterbirds-shaped:
each class has one spurious attribute (its one common background) and the world's only
backgrounds are the classes' attributes, so each image shows its class's attribute or
another class's, and class × common/uncommon are the paper's class × attribute groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clipmend.data.registry import ATTRIBUTE_COLUMN, DEBUG_SPLIT, OBJECT_COLUMN
from clipmend.demo.fmnist import CLASS_NAMES, load_subset
from clipmend.demo.textures import BACKGROUNDS, render_batch_with_masks

# objects per class in the committed subset: train pool 800, test pool 400
TRAIN_POOL = 800
TEST_POOL = 400
#: train-pool objects [GENERATOR_OBJECTS_START:] are reserved for the copy-paste generator
GENERATOR_OBJECTS_START = 600
MODES = ("backgrounds", "binary")
TEST_LAYOUTS = ("random", "paired")
#: captions open with one of these; class templates in these words are ones the demo CLIP saw
CAPTION_PREFIXES = ("a photo of a", "a photo of the")


#: how captions (and the demo LLM table) phrase each background
BACKGROUND_PHRASES: dict[str, tuple[str, ...]] = {
    "water": ("in the water", "on the water", "in a lake", "underwater"),
    "grass": ("on the grass", "on a lawn", "in a meadow", "on a grassy field"),
    "sand": ("on the sand", "on a beach", "in the desert", "on sandy ground"),
    "snow": ("in the snow", "on snowy ground", "on snow"),
    "sky": ("in the sky", "among clouds", "in the air"),
    "brick": ("by a brick wall", "on bricks", "against a brick wall"),
    "forest": ("in a forest", "in the woods", "in a jungle"),
    "night": ("at night", "in darkness", "under a night sky"),
    "lava": ("on lava", "near a volcano", "on magma"),
    "wood": ("on wood", "on a wooden table", "on a wooden floor"),
}


def captions(class_names: Sequence[str], backgrounds: Sequence[str], seed: int,
             background_share: float = 1.0) -> list[str]:
    """Captions "a photo of a|the {class}", followed in ``background_share`` of them by a phrase of the background."""
    rng = np.random.default_rng(seed)
    out = []
    for class_name, background in zip(class_names, backgrounds, strict=True):
        phrases = BACKGROUND_PHRASES[background]
        prefix = CAPTION_PREFIXES[rng.integers(len(CAPTION_PREFIXES))]
        phrase = phrases[rng.integers(len(phrases))]
        out.append(f"{prefix} {class_name} {phrase}" if rng.random() < background_share
                   else f"{prefix} {class_name}")
    return out


def _check_share(name: str, value: float | None) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"demo.{name} must be in [0, 1], got {value}")


@dataclass(frozen=True)
class WorldSpec:
    """How the demo world is drawn (all of it comes from config ``demo:``)."""

    image_size: int
    n_train: int
    n_val: int
    n_test: int
    n_clip: int
    correlation: float
    common_backgrounds: Mapping[str, Sequence[str]]
    seed: int
    classes: tuple[str, ...] = CLASS_NAMES
    mode: str = "backgrounds"
    test_layout: str = "random"
    clip_correlation: float | None = None  # None: uniform backgrounds
    clip_caption_background: float = 1.0

    def __post_init__(self) -> None:
        for name in ("correlation", "clip_correlation", "clip_caption_background"):
            _check_share(name, getattr(self, name))
        for name, value, valid in (("mode", self.mode, MODES), ("test_layout", self.test_layout, TEST_LAYOUTS)):
            if value not in valid:
                raise ValueError(f"demo.{name} must be one of {list(valid)}, got {value!r}")
        bad = [c for c in self.classes if c not in CLASS_NAMES]
        if bad or not self.classes or len(set(self.classes)) != len(self.classes):
            raise ValueError(f"demo.classes must be distinct Fashion-MNIST classes, got {list(self.classes)}; "
                             f"valid: {list(CLASS_NAMES)}")
        if self.n_train > GENERATOR_OBJECTS_START:
            raise ValueError(
                f"demo.n_train_per_class={self.n_train} exceeds the {GENERATOR_OBJECTS_START} "
                "train-pool objects per class not reserved for the generator"
            )
        held_out = TEST_POOL + GENERATOR_OBJECTS_START - self.n_train
        if self.n_val + self.n_test > held_out:
            raise ValueError(
                f"demo.n_val_per_class + n_test_per_class = {self.n_val + self.n_test} exceeds the "
                f"{held_out} held-out objects per class ({TEST_POOL} test-pool objects plus the "
                f"{GENERATOR_OBJECTS_START - self.n_train} train-pool objects n_train_per_class leaves)"
            )
        if self.image_size < 28:
            raise ValueError(f"demo.image_size must be >= 28, got {self.image_size}")
        for cls in self.classes:
            common = self.common_backgrounds.get(cls)
            if not common:
                raise ValueError(f"demo.common_backgrounds has no entry for class {cls!r}")
            bad = [b for b in common if b not in BACKGROUNDS]
            if bad:
                raise ValueError(
                    f"demo.common_backgrounds[{cls!r}] has unknown backgrounds {bad}; "
                    f"valid: {list(BACKGROUNDS)}"
                )
        if self.mode == "binary":
            attributes = [tuple(self.common_backgrounds[c]) for c in self.classes]
            if any(len(a) != 1 for a in attributes) or len(set(attributes)) != len(attributes):
                raise ValueError("demo.mode binary needs one common background per class, a different one "
                                 f"for each class; got {dict(zip(self.classes, attributes))}")

    @property
    def backgrounds(self) -> tuple[str, ...]:
        """The world's backgrounds: all ten, or (binary) the classes' attributes in ``BACKGROUNDS`` order."""
        if self.mode == "backgrounds":
            return BACKGROUNDS
        used = {self.common_backgrounds[c][0] for c in self.classes}
        return tuple(b for b in BACKGROUNDS if b in used)

    @classmethod
    def from_config(cls, demo: Mapping) -> "WorldSpec":
        """Build from the ``demo:`` config section."""
        clip_correlation = demo.get("clip_correlation")
        return cls(
            image_size=int(demo["image_size"]),
            n_train=int(demo["n_train_per_class"]),
            n_val=int(demo["n_val_per_class"]),
            n_test=int(demo["n_test_per_class"]),
            n_clip=int(demo["n_clip_per_class"]),
            correlation=float(demo["correlation"]),
            common_backgrounds={k: list(v) for k, v in demo["common_backgrounds"].items()},
            seed=int(demo["seed"]),
            classes=tuple(demo.get("classes") or CLASS_NAMES),
            mode=str(demo.get("mode", "backgrounds")),
            test_layout=str(demo.get("test_layout", "random")),
            clip_correlation=None if clip_correlation is None else float(clip_correlation),
            clip_caption_background=float(demo.get("clip_caption_background", 1.0)),
        )


def background_distribution(spec: WorldSpec, class_name: str, correlation: float | None) -> np.ndarray:
    """P(background | class) over ``spec.backgrounds``: ``correlation`` on the common ones (None: uniform)."""
    backgrounds = spec.backgrounds
    if correlation is None:
        return np.full(len(backgrounds), 1.0 / len(backgrounds))
    common = list(spec.common_backgrounds[class_name])
    probs = np.full(len(backgrounds), (1.0 - correlation) / len(backgrounds))
    for b in common:
        probs[backgrounds.index(b)] += correlation / len(common)
    return probs / probs.sum()


def train_background_distribution(spec: WorldSpec, class_name: str) -> np.ndarray:
    """P(background | class) in the train split: ``correlation`` on the common ones."""
    return background_distribution(spec, class_name, spec.correlation)


def object_pools(subset: Mapping[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Per Fashion-MNIST class, object arrays: ``train`` (800 each) and ``test`` (400 each) pools."""
    pools: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    for pool in pools:
        images, labels = subset[f"{pool}_images"], subset[f"{pool}_labels"]
        pools[pool] = [images[labels == c] for c in range(len(CLASS_NAMES))]
    return pools


def _held_out(pools: Mapping[str, list[np.ndarray]], fm_label: int, n_train: int) -> np.ndarray:
    """Objects no train or clip image uses: the test pool, then the train pool's [n_train, generator start)."""
    return np.concatenate([pools["test"][fm_label], pools["train"][fm_label][n_train:GENERATOR_OBJECTS_START]])


def build_world(spec: WorldSpec, subset: Mapping[str, np.ndarray] | None = None):
    """Render every split: ``(images (N,S,S,3) uint8, masks (N,S,S) uint8, index)``.

    ``masks`` are the objects' opacities (see ``textures.object_masks``); the index has
    ``id, split, label, class_name, background``, ``attribute`` (= ``background``), ``object``
    (the object an image shows: a paired test object's id on all its backgrounds, else the
    image's id) and ``caption`` (the ``clip`` split's captions; empty elsewhere).
    """
    subset = load_subset() if subset is None else subset
    pools = object_pools(subset)
    rng = np.random.default_rng(spec.seed)
    backgrounds = spec.backgrounds
    paired = spec.test_layout == "paired"
    plan = [  # split, first held-out object, count, background correlation ("train": spec.correlation)
        ("train", 0, spec.n_train, "train"),
        (DEBUG_SPLIT, 0, spec.n_val, None),
        ("test", spec.n_val, spec.n_test, None),
        ("clip", 0, spec.n_clip, spec.clip_correlation),
    ]
    objects, rows = [], []
    for split, first, count, correlation in plan:
        for label, class_name in enumerate(spec.classes):
            fm_label = CLASS_NAMES.index(class_name)
            if split == "test" and paired:  # every object on every background
                chosen = _held_out(pools, fm_label, spec.n_train)[first : first + count]
                objects.append(np.repeat(chosen, len(backgrounds), axis=0))
                rows += [(f"test-{class_name}-{i:04d}-{b}", split, label, class_name, b, f"test-{class_name}-{i:04d}")
                         for i in range(count) for b in backgrounds]
                continue
            corr = spec.correlation if correlation == "train" else correlation
            picks = rng.choice(len(backgrounds), size=count, p=background_distribution(spec, class_name, corr))
            if split == "train":
                chosen = pools["train"][fm_label][:count]
            elif split == "clip":  # CLIP sees train objects in random order, not the train pairing
                reach = spec.n_train if paired else GENERATOR_OBJECTS_START
                chosen = pools["train"][fm_label][rng.permutation(reach)[:count] if count <= reach
                                                   else rng.integers(reach, size=count)]
            else:
                chosen = _held_out(pools, fm_label, spec.n_train)[first : first + count]
            objects.append(chosen)
            rows += [(f"{split}-{class_name}-{i:04d}", split, label, class_name, backgrounds[b],
                      f"{split}-{class_name}-{i:04d}") for i, b in enumerate(picks)]
    index = pd.DataFrame(rows, columns=["id", "split", "label", "class_name", "background", OBJECT_COLUMN])
    images, masks = render_batch_with_masks(
        np.concatenate(objects), list(index["background"]), spec.image_size, rng
    )
    index[ATTRIBUTE_COLUMN] = index["background"]
    clip = index["split"] == "clip"
    index["caption"] = ""
    index.loc[clip, "caption"] = captions(index.loc[clip, "class_name"], index.loc[clip, "background"],
                                          seed=spec.seed + 1, background_share=spec.clip_caption_background)
    return images, masks, index
