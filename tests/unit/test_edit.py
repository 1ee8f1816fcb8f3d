"""The edit set (issue 18 part 3): debug_seed failures edited into the chosen backgrounds, never a heldout image."""

import numpy as np
import pandas as pd
import pytest

from clipmend.data.registry import prepare_dataset
from clipmend.demo.edit import debug_object, object_offset
from clipmend.demo.fmnist import load_subset
from clipmend.demo.world import WorldSpec, object_pools
from clipmend.generation.edit import (
    HeldoutSourceError,
    SourceEditor,
    edit_requests,
    edit_settings,
    sources_of,
)
from clipmend.generation.registry import create_generator
from clipmend.generation.steps import edit_images
from clipmend.generation.store import generate_set
from clipmend.io import write_json, write_parquet
from tests.unit.test_generate import WORLD

FAILURES = pd.DataFrame({"id": ["val-bag-0001", "val-bag-0003", "val-coat-0002", "val-coat-0004"],
                         "label": [8, 8, 4, 4], "pred": [0, 0, 1, 1],
                         "part": ["debug_seed", "debug_heldout", "debug_seed", "debug_heldout"]})


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small demo world on disk (index with images and masks), and its failures and assignments."""
    root = tmp_path_factory.mktemp("edit")
    (root / "data").mkdir()
    index, classes = prepare_dataset("demo", root / "data", WORLD)
    write_parquet(index, root / "index.parquet")
    write_json(classes, root / "classes.json")
    write_parquet(FAILURES, root / "failures.parquet")
    assignments = FAILURES.assign(background=["snow", "snow", "lava", "lava"], score=0.9)
    write_parquet(assignments, root / "assignments.parquet")
    return root, index, classes


def generator(**extra):
    return {"backend": "copypaste", "prompt": "a photo of a {class_name} {background}",
            "random_prompt": "a photo of a {class_name}", "k": 1, "images_per_background": 3, "seed": 0,
            "batch_size": 4, "options": {"world": WORLD, "defects": {"missing": 0.05}}, **extra}  # as the demo config


def test_a_heldout_failure_is_never_a_source():
    """Broken change caught: edit_requests without its check_sources call edits val-bag-0003 (heldout)."""
    with pytest.raises(HeldoutSourceError, match="val-bag-0003"):
        edit_requests(FAILURES, FAILURES, {8: ["snow"], 4: ["lava"]}, WORLD_CLASSES, "{class_name} {background}",
                      2, 0, dict.fromkeys(FAILURES["id"], "sha"))
    with pytest.raises(HeldoutSourceError, match="not a failure"):  # a debug image that no model failed
        edit_requests(pd.DataFrame({"id": ["val-bag-0000"], "label": [8]}), FAILURES, {8: ["snow"]},
                      WORLD_CLASSES, "{class_name} {background}", 1, 0, {"val-bag-0000": "sha"})


WORLD_CLASSES = list(WORLD["common_backgrounds"])


def test_requests_take_the_class_failures_in_turn_with_the_text_sets_counts():
    seeds = FAILURES[FAILURES["part"] == "debug_seed"]
    requests = edit_requests(seeds, FAILURES, {8: ["snow", "sky"], 4: ["lava"]}, WORLD_CLASSES,
                             "a {class_name} {background}", 2, 0, dict.fromkeys(seeds["id"], "sha"))
    assert [(r.label, r.background, r.source) for r in requests] == [
        (4, "lava", "val-coat-0002"), (4, "lava", "val-coat-0002"),
        (8, "snow", "val-bag-0001"), (8, "snow", "val-bag-0001"), (8, "sky", "val-bag-0001"),
        (8, "sky", "val-bag-0001")]
    assert len({r.seed for r in requests}) == len(requests)


def test_the_source_editor_refuses_a_source_it_was_not_given(demo):
    """Broken change caught: SourceEditor.generate loading any id of the index (a heldout image)."""
    _, index, _ = demo
    editor = SourceEditor(create_generator("copypaste-edit", world=WORLD), sources_of(index, ["val-bag-0001"]))
    seeds = FAILURES[FAILURES["part"] == "debug_seed"]
    requests = edit_requests(seeds, FAILURES, {8: ["snow"]}, WORLD_CLASSES, "{class_name} {background}", 1, 0,
                             dict.fromkeys(seeds["id"], "sha"))
    assert len(list(editor.generate(requests))) == 1
    heldout = [r.__class__(**{**vars(r), "source": "val-bag-0003"}) for r in requests]
    with pytest.raises(HeldoutSourceError, match="val-bag-0003"):
        list(editor.generate(heldout))


def test_the_demo_finds_each_debug_images_own_object_where_it_was(demo):
    """Broken change caught: the object of val-{class}-{i} taken from the wrong held-out position."""
    _, index, _ = demo
    from clipmend.data.images import load_mask

    spec = WorldSpec.from_config(WORLD)
    pools = object_pools(load_subset())
    val = index[index["split"] == "val"]
    for row in val.itertuples():
        object_offset(debug_object(spec, pools, row.id), load_mask(row.mask), row.id)  # raises on a mismatch
    with pytest.raises(ValueError, match="not a debug-split image"):
        debug_object(spec, pools, "test-bag-0001")


def test_edit_images_keeps_the_object_replaces_the_background_and_links_the_source(demo, tmp_path):
    root, index, _ = demo
    args = (root / "assignments.parquet", root / "failures.parquet", root / "index.parquet",
            root / "classes.json")
    manifest = edit_images(*args, tmp_path / "edit.parquet", generator(), tmp_path / "store")
    assert list(manifest.columns[:13]) == ["id", "image", "class_name", "label", "background", "prompt", "seed",
                                           "blanked", "true_class", "true_background", "defect", "source", "source_sha"]
    assert set(manifest["source"]) == {"val-bag-0001", "val-coat-0002"}  # the seed failures, never heldout
    assert set(zip(manifest["label"], manifest["background"])) == {(8, "snow"), (4, "lava")}
    assert len(manifest) == 6 and manifest["image"].is_unique
    from clipmend.data.images import load_image, load_mask

    row = manifest[manifest["source"] == "val-bag-0001"].iloc[0]
    source = index.set_index("id").loc["val-bag-0001"]
    edited, original = np.asarray(load_image(row["image"])), np.asarray(load_image(source["image"]))
    inside = load_mask(source["mask"]) >= 1.0
    assert np.array_equal(edited[inside], original[inside])  # the object kept exactly
    assert np.abs(edited[~inside].astype(int) - original[~inside]).mean() > 10  # a new background
    again = edit_images(*args, tmp_path / "again.parquet", generator(), tmp_path / "store")
    assert again["image"].equals(manifest["image"])  # the store's images reused


def test_sharded_editing_merges_into_the_unsharded_edit_set_byte_for_byte(demo, tmp_path, monkeypatch):
    """Broken change caught: a shard editing every class (duplicates), or shards merged out of label order."""
    root, _, classes = demo
    args = (root / "assignments.parquet", root / "failures.parquet", root / "index.parquet",
            root / "classes.json")
    for run in ("whole", "sharded"):  # each with its own store, at the same relative path
        (tmp_path / run).mkdir()
        monkeypatch.chdir(tmp_path / run)
        if run == "whole":
            edit_images(*args, "edit.parquet", generator(), "store")
            continue
        parts = [f"shard{i}/edit.parquet" for i in range(3)]
        sizes = [len(edit_images(*args, part, generator(), "store", shard=(i, 3))) for i, part in enumerate(parts)]
        assert sizes == [0, 3, 3]  # coat (4) in the second class range of three, bag (8) in the third
        edit_images(*args, "edit.parquet", generator(), "unused", parts=parts)
    assert (tmp_path / "sharded/edit.parquet").read_bytes() == (tmp_path / "whole/edit.parquet").read_bytes()
    assert len(pd.read_parquet(tmp_path / "whole/edit.parquet")) == 6 and len(classes) == 10


def test_a_changed_source_or_edit_setting_makes_new_images(demo, tmp_path):
    """Broken change caught: an edit key without the source's sha or the editor settings."""
    root, index, _ = demo
    seeds = FAILURES[FAILURES["part"] == "debug_seed"]
    sources = sources_of(index, list(seeds["id"]))

    def keys(shas, **settings):
        requests = edit_requests(seeds, FAILURES, {8: ["snow"]}, WORLD_CLASSES, "{class_name} {background}",
                                 1, 0, shas)
        editor = SourceEditor(create_generator("diffusers-edit", model="unused", device="cpu", **settings), sources)
        return [r for r in requests], editor.identity()

    a, ia = keys({"val-bag-0001": "a", "val-coat-0002": "c"})
    b, _ = keys({"val-bag-0001": "b", "val-coat-0002": "c"})
    _, ic = keys({"val-bag-0001": "a", "val-coat-0002": "c"}, strength=0.5)
    from clipmend.generation.store import image_key

    assert image_key(ia, a[0]) != image_key(ia, b[0]) and image_key(ia, a[0]) != image_key(ic, a[0])


@pytest.mark.parametrize("edit,match", [({"strength": 0}, "strength"), ({"strength": 2}, "strength"),
                                        ({"inpaint": "yes"}, "inpaint"), ({"strenght": 0.5}, "strenght")])
def test_bad_edit_settings_are_named(edit, match):
    with pytest.raises(ValueError, match=match):
        edit_settings({"edit": edit})


def test_generate_set_is_unchanged_for_text_requests(tmp_path):
    from clipmend.generation.requests import ImageRequest

    manifest = generate_set(create_generator("copypaste", world=WORLD),
                            [ImageRequest("bag", 8, "snow", "a bag snow", 1)], tmp_path, progress=False)
    assert "source" not in manifest.columns and list(manifest.columns[:8]) == [
        "id", "image", "class_name", "label", "background", "prompt", "seed", "blanked"]
