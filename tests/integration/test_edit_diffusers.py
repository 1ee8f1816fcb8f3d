"""The edit set on the real path: diffusers img2img / inpainting with the tiny random SD pipeline."""

from __future__ import annotations

import numpy as np

from clipmend.data.images import load_image, load_mask
from clipmend.generation.steps import edit_images
from tests.integration.test_generate_diffusers import FAST, one_torch_thread, tiny_model  # noqa: F401 (fixtures)
from tests.unit.test_edit import demo, generator  # noqa: F401 (a fixture)


def diffusers(model, **edit):
    options = {"model": str(model), **{k: v for k, v in FAST.items() if k != "device"}}
    return generator(backend="diffusers", options=options, edit=edit, images_per_background=1)


def run(demo, tmp_path, model, name, **edit):  # noqa: F811
    root, _, _ = demo
    return edit_images(root / "assignments.parquet", root / "failures.parquet", root / "index.parquet",
                       root / "classes.json", tmp_path / f"{name}.parquet", diffusers(model, **edit),
                       tmp_path / "store")


def test_inpainting_keeps_the_object_and_img2img_repaints_all(demo, tiny_model, tmp_path):  # noqa: F811
    _, index, _ = demo
    inpainted = run(demo, tmp_path, tiny_model, "inpaint", strength=0.6)
    assert set(inpainted["source"]) == {"val-bag-0001", "val-coat-0002"}
    assert inpainted["gen_edit"].eq("img2img").all() and inpainted["gen_strength"].eq(0.6).all()
    whole = run(demo, tmp_path, tiny_model, "whole", strength=0.6, inpaint=False)
    assert not set(whole["image"]) & set(inpainted["image"])  # the setting is part of the key
    rows = index.set_index("id")
    for manifest, kept in ((inpainted, True), (whole, False)):
        row = manifest.iloc[0]
        source = rows.loc[row["source"]]
        edited, original = np.asarray(load_image(row["image"])), np.asarray(load_image(source["image"]))
        assert edited.shape == original.shape == (32, 32, 3)
        inside = load_mask(source["mask"]) >= 0.5
        assert np.array_equal(edited[inside], original[inside]) == kept
        assert np.abs(edited[~inside].astype(int) - original[~inside]).mean() > 1  # repainted
