"""The demo generator's defects, the CLIP filter after generation, and the generation-variant intervals."""

import numpy as np
import pandas as pd
import pytest

from clipmend.demo.copypaste import DEFAULT_DEFECTS, check_defects
from clipmend.generation.filter import decide, filter_quality, kept_rows, score_images
from clipmend.generation.registry import create_generator
from clipmend.generation.requests import ImageRequest
from clipmend.generation.store import TRUTH_COLUMNS, generate_set
from clipmend.reporting.generation import VARIANT_COLUMNS, variant_intervals
from tests.unit.test_generate import WORLD


def test_copypaste_makes_each_defect_at_its_rate_and_records_it():
    gen = create_generator("copypaste", world=WORLD, defects={"wrong_background": 0.2})
    truths = pd.DataFrame([gen.truth(ImageRequest("sandal", 5, "in the snow", "p", seed=s)) for s in range(3000)])
    rates = truths["defect"].value_counts() / len(truths)
    for defect, rate in {**DEFAULT_DEFECTS, "wrong_background": 0.2}.items():
        assert abs(rates[defect] - rate) < 0.025, (defect, rates[defect])
    wrong_bg = truths[truths["defect"] == "wrong_background"]
    assert (wrong_bg["true_background"] != "snow").all() and (wrong_bg["true_class"] == "sandal").all()
    wrong_class = truths[truths["defect"] == "wrong_class"]
    assert (wrong_class["true_class"] != "sandal").all()
    # about half are its near twins (sneaker, ankle boot), far more than 2 of 9 uniform classes
    assert wrong_class["true_class"].isin(["sneaker", "ankle boot"]).mean() > 0.45
    assert truths.loc[truths["defect"] == "missing", "true_class"].isna().all()
    assert truths.loc[truths["defect"].isna(), "true_background"].eq("snow").all()


def test_a_missing_object_leaves_mostly_background():
    gen = create_generator("copypaste", world=WORLD, defects={"missing": 1.0, "wrong_class": 0, "wrong_background": 0})
    clean = create_generator("copypaste", world=WORLD, defects={"missing": 0, "wrong_class": 0, "wrong_background": 0})
    requests = [ImageRequest("trouser", 1, "in the snow", "p", seed=s) for s in range(20)]
    # snow is bright and objects are drawn grey with a dark outline: an object darkens the image
    missing = np.mean([np.asarray(i).mean() for i in gen.generate(requests)])
    present = np.mean([np.asarray(i).mean() for i in clean.generate(requests)])
    assert missing > present + 10


def test_defect_rates_are_checked_and_part_of_the_generators_identity():
    with pytest.raises(ValueError, match="unknown defect 'blurry'"):
        create_generator("copypaste", world=WORLD, defects={"blurry": 0.1})
    with pytest.raises(ValueError, match="missing must be a rate"):
        check_defects({"missing": 1.5})
    a = create_generator("copypaste", world=WORLD).identity()
    b = create_generator("copypaste", world=WORLD, defects={"missing": 0.2}).identity()
    assert a != b  # other rates make other images: the store must not reuse them


def test_the_manifest_records_true_content_and_null_for_a_generator_that_cannot_know(tmp_path):
    gen = create_generator("copypaste", world=WORLD)
    requests = [ImageRequest("bag", 8, "on lava", "p", seed=s) for s in range(30)]
    manifest = generate_set(gen, requests, tmp_path / "store", progress=False)
    assert set(TRUTH_COLUMNS) <= set(manifest.columns)
    assert manifest["true_background"].notna().all() and manifest["defect"].notna().any()

    class Blind:  # a diffusion model: no truth()
        name = "blind"

        def identity(self):
            return {"backend": "blind"}

        def generate(self, reqs):
            return gen.generate(reqs)

    blind = generate_set(Blind(), requests[:3], tmp_path / "store", progress=False)
    assert blind[list(TRUTH_COLUMNS)].isna().all().all()
    assert filter_quality(blind.assign(kept=True))["precision"] != filter_quality(blind.assign(kept=True))["precision"]


# a fake CLIP with exact concepts: an embedding is the sum of a class and a background direction
CLASSES = ["cat", "dog", "cow"]
CONCEPTS = {"on grass": 3, "on a lawn": 3, "in water": 4, "on sand": 5}


def _embed(class_name=None, background=None, dim=6):
    v = np.zeros(dim)
    if class_name is not None:
        v[CLASSES.index(class_name)] = 1.0
    if background is not None:
        v[CONCEPTS[background]] = 1.0
    return v / np.linalg.norm(v)


def _embed_texts(texts):
    out = []
    for text in texts:
        cls = next((c for c in CLASSES if f" {c}" in text), None)
        bg = next((b for b in CONCEPTS if text.endswith(b)), None)
        out.append(_embed(cls, bg))
    return np.array(out)


def _planted():
    """Six images prompted "cat on grass" (or "cat"): right, on a lawn (a synonym), a dog, on water,
    and prompted without a background: a cat on sand, a dog on sand."""
    manifest = pd.DataFrame({"class_name": "cat", "label": 0,
                             "background": ["on grass", "on grass", "on grass", "on grass", None, None],
                             "defect": [None, None, "wrong_class", "wrong_background", None, "wrong_class"]})
    images = np.array([_embed("cat", "on grass"), _embed("cat", "on a lawn"), _embed("dog", "on grass"),
                       _embed("cat", "in water"), _embed("cat", "on sand"), _embed("dog", "on sand")])
    return manifest, images


def test_the_filter_drops_planted_defects_and_keeps_the_good_images():
    manifest, images = _planted()
    scores = score_images(manifest, images, CLASSES, list(CONCEPTS), _embed_texts,
                          "a photo of a {class_name} {background}", 30.0)
    kept = decide(scores, {"class": 0.5, "background": 0.6})  # a synonym alone would get half
    assert kept.tolist() == [True, True, False, False, True, False]
    assert np.isnan(scores["score_background"].iloc[4])  # no background prompted: passes that check
    # the class check phrases each class with the background the image shows: the cat in water
    # is a cat there (only its background check drops it), the unprompted cat on sand too
    assert scores["score_class"].iloc[3] > 0.9 and scores["score_class"].iloc[4] > 0.9
    quality = filter_quality(manifest.assign(kept=kept, true_background="x"))
    assert quality["precision"] == 1.0 and quality["recall"] == 1.0 and quality["n_dropped"] == 3


def test_thresholds_are_checked_and_dropped_images_never_reach_the_features():
    with pytest.raises(ValueError, match="unknown score 'beauty'"):
        decide(pd.DataFrame({"score_class": [1.0]}), {"beauty": 0.5})
    manifest = pd.DataFrame({"id": ["a", "b", "c"], "kept": [True, False, True]})
    assert kept_rows(manifest)["id"].tolist() == ["a", "c"]
    assert kept_rows(manifest.drop(columns="kept"))["id"].tolist() == ["a", "b", "c"]


def _variant_predictions(models=("m1", "m2"), seeds=(0, 1, 2, 3, 4), n=200):
    rng = np.random.default_rng(0)
    rows = []
    for model in models:
        labels = rng.integers(0, 3, n)
        for part in ("test", "debug_heldout"):
            for strategy, acc, strat_seeds in (("baseline", 0.3, seeds[:1]), ("text", 0.5, seeds),
                                               ("text+filter", 0.7, seeds)):
                for seed in strat_seeds:
                    right = rng.random(n) < acc
                    rows.append(pd.DataFrame({"model": model, "strategy": strategy, "seed": seed, "part": part,
                                              "id": np.arange(n), "label": labels,
                                              "pred": np.where(right, labels, (labels + 1) % 3)}))
    return pd.concat(rows, ignore_index=True)


def test_variant_intervals_rank_a_better_variant_with_a_paired_interval_above_zero():
    table = variant_intervals(_variant_predictions(), replicates=300)
    assert list(table.columns) == VARIANT_COLUMNS
    row = table.set_index(["variant", "metric"])
    gain = row.loc[("text+filter", "heldout_gain_vs_text")]
    assert 0.1 < gain["mean"] < 0.3 and gain["ci_low"] > 0 and gain["n_seeds"] == 5
    text_gain = row.loc[("text", "heldout_gain")]
    assert 0.1 < text_gain["ci_low"] and text_gain["mean"] < 0.3  # 0.5 vs the baseline's 0.3
    assert 0.45 < row.loc[("text", "test_accuracy"), "mean"] < 0.55
    assert ("text", "heldout_gain_vs_text") not in row.index


def test_variant_intervals_draw_objects_on_a_paired_test_split():
    """Broken change caught: generation_variants drawing test images one by one where each object
    shows on several backgrounds (an object's images err together: the interval was too narrow)."""
    rng = np.random.default_rng(0)
    n, per_object = 300, 5
    labels = np.repeat(np.arange(n // per_object) % 3, per_object)
    objects = pd.Series(np.repeat([f"o{i}" for i in range(n // per_object)], per_object), index=np.arange(n))
    rows = []
    for strategy, seeds in (("baseline", [0]), ("text", range(5))):
        for seed in seeds:
            right = np.repeat(rng.random(n // per_object) < 0.6, per_object)  # an object's images together
            for part in ("test", "debug_heldout"):
                rows.append(pd.DataFrame({"model": "m", "strategy": strategy, "seed": seed, "part": part,
                                          "id": np.arange(n), "label": labels,
                                          "pred": np.where(right, labels, (labels + 1) % 3)}))
    predictions = pd.concat(rows, ignore_index=True)

    def width(**kw):
        row = variant_intervals(predictions, replicates=400, **kw).set_index(["variant", "metric"])
        return row.loc[("text", "test_accuracy"), "ci_high"] - row.loc[("text", "test_accuracy"), "ci_low"]

    assert width(objects=objects) > 1.3 * width()


def test_models_share_one_scores_table_and_filter_images_only_applies_thresholds(tmp_path):
    """Broken change caught: a model's filter scoring its images itself, or a join that misaligns rows."""
    from clipmend.generation.steps import filter_images
    from clipmend.io import read_parquet, write_parquet

    table = pd.DataFrame({"id": ["a", "b", "c"], "score_class": [0.9, 0.05, 0.5],
                          "score_background": [0.8, 0.9, 0.1]})
    write_parquet(table, tmp_path / "scores.parquet")
    manifests = {"m1": pd.DataFrame({"id": ["c", "a"], "label": [0, 1]}),
                 "m2": pd.DataFrame({"id": ["b", "a", "c"], "label": [2, 1, 0]})}
    for name, frame in manifests.items():
        write_parquet(frame, tmp_path / f"{name}.parquet")
    dropped = filter_images({n: tmp_path / f"{n}.parquet" for n in manifests}, tmp_path / "scores.parquet",
                            {n: tmp_path / f"{n}_f.parquet" for n in manifests}, {"class": 0.1, "background": 0.3})
    out = {n: read_parquet(tmp_path / f"{n}_f.parquet") for n in manifests}
    assert out["m1"]["kept"].tolist() == [False, True] and out["m1"]["score_class"].tolist() == [0.5, 0.9]
    assert out["m2"]["kept"].tolist() == [False, True, False] and dropped == {"m1": 1, "m2": 2}
    assert out["m2"]["id"].tolist() == ["b", "a", "c"]
    write_parquet(pd.DataFrame({"id": ["z"], "label": [0]}), tmp_path / "m3.parquet")
    with pytest.raises(ValueError, match="no scores in .*re-run score_generated_images"):
        filter_images({"m3": tmp_path / "m3.parquet"}, tmp_path / "scores.parquet",
                      {"m3": tmp_path / "m3_f.parquet"}, {"class": 0.1})


def test_planted_defects_are_dropped_for_every_model_from_one_scoring_of_each_image(tmp_path, monkeypatch):
    """Broken change caught: the filter keeping a planted defect, or scoring an image once per model."""
    import types

    import torch

    import clipmend.clip.loading
    import clipmend.models.features
    from clipmend.generation.steps import filter_images, score_generated_images
    from clipmend.io import read_parquet, write_json, write_parquet

    manifest, images = _planted()
    manifest = manifest.assign(id=[f"gen-{i}" for i in range(6)], image=[f"img{i}.png" for i in range(6)])
    embedded = dict(zip(manifest["image"], images))
    calls = []

    def fake_extract(encode, transform, refs, *args, **kwargs):
        calls.append(list(refs))
        return np.array([embedded[r] for r in refs])

    model = types.SimpleNamespace(logit_scale=torch.tensor(np.log(30.0)))
    fake = types.SimpleNamespace(encode_images=None, preprocess=None, encode_texts=_embed_texts, model=model)
    monkeypatch.setattr(clipmend.clip.loading, "load_clip", lambda *a, **k: fake)
    monkeypatch.setattr(clipmend.models.features, "extract", fake_extract)
    # two models: the first asked for the first four images, the second for all six (one shared store)
    paths = {"m1": tmp_path / "m1.parquet", "m2": tmp_path / "m2.parquet"}
    write_parquet(manifest.iloc[:4], paths["m1"])
    write_parquet(manifest, paths["m2"])
    write_json(CLASSES, tmp_path / "classes.json")
    write_json({"classes": {"cat": {"backgrounds": list(CONCEPTS)}}}, tmp_path / "backgrounds.json")
    score_generated_images(list(paths.values()), tmp_path / "backgrounds.json", tmp_path / "classes.json",
                           tmp_path / "scores.parquet", "fake", "fake", "a photo of a {class_name} {background}")
    assert calls == [list(manifest["image"])]  # each image embedded once, for both models
    assert read_parquet(tmp_path / "scores.parquet")["id"].tolist() == list(manifest["id"])
    filter_images(paths, tmp_path / "scores.parquet", {m: tmp_path / f"{m}_f.parquet" for m in paths},
                  {"class": 0.5, "background": 0.6})
    out = {m: read_parquet(tmp_path / f"{m}_f.parquet") for m in paths}
    assert out["m1"]["kept"].tolist() == [True, True, False, False]
    assert out["m2"]["kept"].tolist() == [True, True, False, False, True, False]


def test_a_family_set_scores_only_the_images_no_model_set_holds(tmp_path, monkeypatch):
    """Broken change caught: the families' scoring embedding again the images the models' table holds,
    loading CLIP when nothing is new, or giving a known image other scores than the table's."""
    import types

    import torch

    import clipmend.clip.loading
    import clipmend.models.features
    from clipmend.generation.steps import score_generated_images
    from clipmend.io import read_parquet, write_json, write_parquet

    manifest, images = _planted()
    manifest = manifest.assign(id=[f"gen-{i}" for i in range(6)], image=[f"img{i}.png" for i in range(6)])
    embedded = dict(zip(manifest["image"], images))
    calls, loads = [], []

    def fake_extract(encode, transform, refs, *args, **kwargs):
        calls.append(list(refs))
        return np.array([embedded[r] for r in refs])

    model = types.SimpleNamespace(logit_scale=torch.tensor(np.log(30.0)))
    fake = types.SimpleNamespace(encode_images=None, preprocess=None, encode_texts=_embed_texts, model=model)
    monkeypatch.setattr(clipmend.clip.loading, "load_clip", lambda *a, **k: loads.append(1) or fake)
    monkeypatch.setattr(clipmend.models.features, "extract", fake_extract)
    write_json(CLASSES, tmp_path / "classes.json")
    write_json({"classes": {"cat": {"backgrounds": list(CONCEPTS)}}}, tmp_path / "backgrounds.json")
    args = (tmp_path / "backgrounds.json", tmp_path / "classes.json")
    clip = ("fake", "fake", "a photo of a {class_name} {background}")
    write_parquet(manifest.iloc[:4], tmp_path / "model.parquet")
    write_parquet(manifest.iloc[[5, 1, 4]], tmp_path / "family.parquet")
    alone = score_generated_images([tmp_path / "family.parquet"], *args, tmp_path / "alone.parquet", *clip)
    models = score_generated_images([tmp_path / "model.parquet"], *args, tmp_path / "models.parquet", *clip)
    calls.clear()
    family = score_generated_images([tmp_path / "family.parquet"], *args, tmp_path / "family_scores.parquet",
                                    *clip, known=tmp_path / "models.parquet")
    assert calls == [["img5.png", "img4.png"]]  # img1 is the models' already
    assert family["id"].tolist() == ["gen-5", "gen-1", "gen-4"]
    pd.testing.assert_frame_equal(family, alone)  # the same scores as scoring the family set alone
    assert family.set_index("id").loc["gen-1"].equals(models.set_index("id").loc["gen-1"])
    assert read_parquet(tmp_path / "family_scores.parquet")["id"].tolist() == ["gen-5", "gen-1", "gen-4"]
    calls.clear(), loads.clear()
    write_parquet(manifest.iloc[[2, 0]], tmp_path / "family2.parquet")
    again = score_generated_images([tmp_path / "family2.parquet"], *args, tmp_path / "f2.parquet", *clip,
                                   known=tmp_path / "models.parquet")
    assert calls == [] and loads == [] and again["id"].tolist() == ["gen-2", "gen-0"]


def test_cross_features_give_no_features_to_images_the_filter_dropped(tmp_path, monkeypatch):
    """Broken change caught: collective debugging training on another set's dropped images."""
    import clipmend.models.steps as steps
    from clipmend.io import read_parquet, write_parquet
    from clipmend.models.features import read_features, write_features

    write_features(pd.DataFrame({"id": ["a"], "label": [0]}), np.ones((1, 2), np.float32), tmp_path / "own.parquet",
                   {})
    write_parquet(pd.DataFrame({"id": ["a", "b", "c"], "label": [0, 1, 2], "image": ["a.png", "b.png", "c.png"],
                                "kept": [True, False, True]}), tmp_path / "family.parquet")
    extracted = []

    def fake_extract(backbone, refs, *args):
        extracted.append(list(refs))
        return np.full((len(refs), 2), 2.0, np.float32)

    import types

    monkeypatch.setattr(steps, "_backbone", lambda *a: types.SimpleNamespace(spec=types.SimpleNamespace(name="m")))
    monkeypatch.setattr(steps, "_extract", fake_extract)
    steps.cross_features([tmp_path / "own.parquet"], {"family-f": tmp_path / "family.parquet"}, tmp_path / "c.json",
                         tmp_path / "cross", "m", {})
    meta, features = read_features(tmp_path / "cross" / "family-f.parquet")
    assert meta["id"].tolist() == ["a", "c"] and extracted == [["c.png"]]
    assert features.tolist() == [[1.0, 1.0], [2.0, 2.0]]
    assert read_parquet(tmp_path / "family.parquet")["kept"].tolist() == [True, False, True]
