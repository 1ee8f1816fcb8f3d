"""The demo world: Fashion-MNIST objects on named backgrounds, with a spurious correlation.

In the train split each class sits on its common backgrounds most of the time; the
val (debug) and test splits spread backgrounds evenly, so a model that learned the
background shortcut fails there on uncommon backgrounds. Every image records its true
background (also as the generic ``attribute``) and the mask of its object. A ``clip``
split (uniform backgrounds, captioned) trains the demo CLIP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clipmend.data.registry import ATTRIBUTE_COLUMN, DEBUG_SPLIT
from clipmend.demo.fmnist import CLASS_NAMES, load_subset
from clipmend.demo.textures import BACKGROUNDS, render_batch_with_masks

# objects per class in the committed subset: train pool 800, test pool 400
TRAIN_POOL = 800
TEST_POOL = 400
#: train-pool objects [GENERATOR_OBJECTS_START:] are reserved for the copy-paste generator
GENERATOR_OBJECTS_START = 600


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


def captions(class_names: Sequence[str], backgrounds: Sequence[str], seed: int) -> list[str]:
    """Captions "a photo of a {class} {phrase}" with a random phrasing of each background."""
    rng = np.random.default_rng(seed)
    out = []
    for class_name, background in zip(class_names, backgrounds):
        phrases = BACKGROUND_PHRASES[background]
        out.append(f"a photo of a {class_name} {phrases[rng.integers(len(phrases))]}")
    return out


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

    def __post_init__(self) -> None:
        if not 0.0 <= self.correlation <= 1.0:
            raise ValueError(f"demo.correlation must be in [0, 1], got {self.correlation}")
        if self.n_train > GENERATOR_OBJECTS_START:
            raise ValueError(
                f"demo.n_train_per_class={self.n_train} exceeds the {GENERATOR_OBJECTS_START} "
                "train-pool objects per class not reserved for the generator"
            )
        if self.n_val + self.n_test > TEST_POOL:
            raise ValueError(
                f"demo.n_val_per_class + n_test_per_class = {self.n_val + self.n_test} "
                f"exceeds the {TEST_POOL} test-pool objects per class"
            )
        if self.image_size < 28:
            raise ValueError(f"demo.image_size must be >= 28, got {self.image_size}")
        for cls in CLASS_NAMES:
            common = self.common_backgrounds.get(cls)
            if not common:
                raise ValueError(f"demo.common_backgrounds has no entry for class {cls!r}")
            bad = [b for b in common if b not in BACKGROUNDS]
            if bad:
                raise ValueError(
                    f"demo.common_backgrounds[{cls!r}] has unknown backgrounds {bad}; "
                    f"valid: {list(BACKGROUNDS)}"
                )

    @classmethod
    def from_config(cls, demo: Mapping) -> "WorldSpec":
        """Build from the ``demo:`` config section."""
        return cls(
            image_size=int(demo["image_size"]),
            n_train=int(demo["n_train_per_class"]),
            n_val=int(demo["n_val_per_class"]),
            n_test=int(demo["n_test_per_class"]),
            n_clip=int(demo["n_clip_per_class"]),
            correlation=float(demo["correlation"]),
            common_backgrounds={k: list(v) for k, v in demo["common_backgrounds"].items()},
            seed=int(demo["seed"]),
        )


def train_background_distribution(spec: WorldSpec, class_name: str) -> np.ndarray:
    """P(background | class) in the train split: ``correlation`` on the common ones."""
    common = list(spec.common_backgrounds[class_name])
    probs = np.full(len(BACKGROUNDS), (1.0 - spec.correlation) / len(BACKGROUNDS))
    for b in common:
        probs[BACKGROUNDS.index(b)] += spec.correlation / len(common)
    return probs / probs.sum()


def object_pools(subset: Mapping[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Per-class object arrays: ``train`` (800 each) and ``test`` (400 each) pools."""
    pools: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    for pool in pools:
        images, labels = subset[f"{pool}_images"], subset[f"{pool}_labels"]
        pools[pool] = [images[labels == c] for c in range(len(CLASS_NAMES))]
    return pools


def build_world(spec: WorldSpec, subset: Mapping[str, np.ndarray] | None = None):
    """Render every split: ``(images (N,S,S,3) uint8, masks (N,S,S) uint8, index)``.

    ``masks`` are the objects' opacities (see ``textures.object_masks``); the index has
    ``id, split, label, class_name, background`` and ``attribute`` (= ``background``).
    """
    subset = load_subset() if subset is None else subset
    pools = object_pools(subset)
    rng = np.random.default_rng(spec.seed)
    uniform = np.full(len(BACKGROUNDS), 1.0 / len(BACKGROUNDS))
    plan = [  # split, object pool, first object, count, background distribution
        ("train", "train", 0, spec.n_train, None),
        (DEBUG_SPLIT, "test", 0, spec.n_val, uniform),
        ("test", "test", spec.n_val, spec.n_test, uniform),
        ("clip", "train", 0, spec.n_clip, uniform),
    ]
    objects, rows = [], []
    for split, pool, first, count, dist in plan:
        for label, class_name in enumerate(CLASS_NAMES):
            probs = train_background_distribution(spec, class_name) if dist is None else dist
            picks = rng.choice(len(BACKGROUNDS), size=count, p=probs)
            chosen = pools[pool][label][first : first + count]
            if split == "clip":  # CLIP sees objects in random order, not the train pairing
                chosen = pools[pool][label][rng.permutation(GENERATOR_OBJECTS_START)[:count]]
            objects.append(chosen)
            for i, b in enumerate(picks):
                rows.append((f"{split}-{class_name}-{i:04d}", split, label, class_name, BACKGROUNDS[b]))
    index = pd.DataFrame(rows, columns=["id", "split", "label", "class_name", "background"])
    images, masks = render_batch_with_masks(
        np.concatenate(objects), list(index["background"]), spec.image_size, rng
    )
    index[ATTRIBUTE_COLUMN] = index["background"]
    return images, masks, index
