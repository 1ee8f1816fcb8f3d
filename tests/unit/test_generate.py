import numpy as np
import pandas as pd
import pytest
from PIL import Image

from clipmend.generation.registry import create_generator
from clipmend.generation.requests import ImageRequest, debug_requests, random_requests
from clipmend.generation.store import generate_set

WORLD = dict(image_size=32, seed=0, n_train_per_class=10, n_val_per_class=5, n_test_per_class=5,
             n_clip_per_class=5, correlation=0.9,
             common_backgrounds={c: [b] for c, b in zip(
                 ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"],
                 ["water", "grass", "sand", "snow", "sky", "brick", "forest", "night", "lava", "wood"])})
CLASSES = list(WORLD["common_backgrounds"])
NO_DEFECTS = {"missing": 0, "wrong_class": 0, "wrong_background": 0}  # tests of rendering, not of mistakes


class CountingGenerator:
    """Wraps a generator and counts the requests it is asked for."""

    def __init__(self, inner):
        self.inner, self.name, self.calls = inner, inner.name, 0

    def identity(self):
        return self.inner.identity()

    def generate(self, requests):
        self.calls += len(requests)
        return self.inner.generate(requests)


def test_unknown_backend_is_named():
    with pytest.raises(ValueError, match="'nope'.*copypaste"):
        create_generator("nope")


def test_the_diffusers_backend_never_imports_the_demo():
    import subprocess
    import sys

    code = ("import sys; from clipmend.generation.registry import create_generator; "
            "create_generator('diffusers', model='/nowhere', device='cpu'); "
            "print(sorted(m for m in sys.modules if m.startswith('clipmend.demo')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_copypaste_renders_requested_background_deterministically():
    gen = create_generator("copypaste", world=WORLD, defects=NO_DEFECTS)
    req = ImageRequest("sandal", 5, "in the snow", "a photo of a sandal in the snow", seed=3)
    a, b = list(gen.generate([req, req]))
    assert a.size == (32, 32) and np.array_equal(np.asarray(a), np.asarray(b))
    other = list(gen.generate([ImageRequest("sandal", 5, "at night", "p", seed=3)]))[0]
    # snow is bright, night is dark
    assert np.asarray(a).mean() > np.asarray(other).mean() + 60


def test_copypaste_rejects_unknown_background():
    gen = create_generator("copypaste", world=WORLD)
    with pytest.raises(ValueError, match="on the moon"):
        list(gen.generate([ImageRequest("bag", 8, "on the moon", "p", 0)]))


def test_copypaste_draws_a_binary_worlds_backgrounds_and_its_classes_only():
    world = {**WORLD, "classes": ["trouser", "bag"], "mode": "binary"}
    gen = create_generator("copypaste", world=world, defects=NO_DEFECTS)
    # the random prompt draws backgrounds from the class's train distribution over grass and lava only
    drawn = pd.Series([gen.truth(ImageRequest("bag", 1, None, "p", seed=s))["true_background"] for s in range(400)])
    assert set(drawn) == {"grass", "lava"} and 0.9 < (drawn == "lava").mean() < 0.99  # 0.9 + 0.1 / 2
    assert len(list(gen.generate([ImageRequest("bag", 1, None, "p", seed=3)]))) == 1
    with pytest.raises(ValueError, match="t-shirt"):
        list(gen.generate([ImageRequest("t-shirt", 0, "in the water", "p", 0)]))


def test_requests_and_random_matching():
    reqs = debug_requests({0: ["in water", "on grass"], 2: ["in snow"]}, CLASSES,
                          "a photo of a {class_name} {background}", per_background=3, base_seed=0)
    assert len(reqs) == 9 and reqs[0].prompt == "a photo of a t-shirt in water"
    assert len({r.seed for r in reqs}) == 9
    rand = random_requests(reqs, CLASSES, "a photo of a {class_name}", base_seed=0)
    assert pd.Series([r.label for r in rand]).value_counts().to_dict() == {0: 6, 2: 3}
    assert all(r.background is None for r in rand)
    with pytest.raises(ValueError, match="may use only"):
        debug_requests({0: ["x"]}, CLASSES, "{class_name} {where}", 1, 0)


def test_store_shares_and_resumes(tmp_path):
    gen = CountingGenerator(create_generator("copypaste", world=WORLD))
    reqs = debug_requests({1: ["in water"]}, CLASSES, "{class_name} {background}", 4, 0)
    first = generate_set(gen, reqs, tmp_path, progress=False)
    assert gen.calls == 4 and first["image"].map(lambda p: Image.open(p).size == (32, 32)).all()
    # a second model asking for the same images generates nothing
    second = generate_set(gen, reqs, tmp_path, progress=False)
    assert gen.calls == 4 and second.equals(first)
    # an interrupted run: only the missing image is generated again
    Path = type(tmp_path)
    Path(first["image"][2]).unlink()
    generate_set(gen, reqs, tmp_path, progress=False)
    assert gen.calls == 5
    assert set(first.columns) >= {"id", "image", "class_name", "label", "background", "prompt", "seed"}


class SafetyGenerator:
    """Blanks (yields None for) every request whose seed is in ``blank``; counts requests."""

    name = "safety"

    def __init__(self, blank):
        self.blank, self.calls = set(blank), 0

    def identity(self):
        return {"kind": "safety"}

    def generate(self, requests):
        for r in requests:
            self.calls += 1
            yield None if r.seed in self.blank else Image.new("RGB", (4, 4), (r.seed % 255, 1, 2))


def test_blanked_images_are_regenerated_with_a_new_seed_or_dropped_and_counted(tmp_path):
    from clipmend.generation.requests import request_seed
    from clipmend.io import write_parquet

    requests = [ImageRequest("bag", 8, None, "a photo of a bag", seed=s) for s in (1, 2, 3)]
    # seed 2 is blanked once, then its first new seed works; seed 3 is blanked on every try
    always = {3, request_seed(3, "safety", 1), request_seed(3, "safety", 2)}
    gen = SafetyGenerator({2} | always)
    manifest = generate_set(gen, requests, tmp_path / "store", batch_size=2, progress=False)
    assert manifest["seed"].tolist() == [1, request_seed(2, "safety", 1)]
    assert manifest["blanked"].tolist() == [0, 1]
    assert manifest.attrs["safety"] == {"blanked": 4, "regenerated": 1, "dropped": 1}
    for path in manifest["image"]:
        assert np.asarray(Image.open(path)).any()  # no black image in a manifest
    write_parquet(manifest, tmp_path / "m.parquet")
    assert pd.read_parquet(tmp_path / "m.parquet").attrs["safety"]["dropped"] == 1
    # resumed: the blanked tries are remembered in the store, nothing is asked again
    calls = gen.calls
    again = generate_set(gen, requests, tmp_path / "store", batch_size=2, progress=False)
    assert gen.calls == calls and again.drop(columns=[]).equals(manifest)
