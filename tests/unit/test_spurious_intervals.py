"""The paired bootstrap over seeds and test images on numbers worked out by hand."""

import numpy as np
import pandas as pd
import pytest

from clipmend.spurious import intervals
from clipmend.spurious.report import seed_comparison


def test_paired_difference_on_the_same_images_matches_the_normal_interval():
    # 400 images: both methods right on the same 200, a also on 100 more: the per-image difference is
    # 1 on 100 images and 0 elsewhere, so mean 0.25 and SE sqrt(.25 * .75 / 400) = 0.02165;
    # a 95% interval of about 0.25 ± 1.96 * 0.02165 = [0.2076, 0.2924]
    a = np.r_[np.ones(300), np.zeros(100)]
    b = np.r_[np.ones(200), np.zeros(200)]
    counts = intervals.resample_groups(np.c_[a, b], np.zeros(400), 4000, np.random.default_rng(0))
    acc = intervals.average(counts.replicates, counts.sizes)
    low, high = intervals.interval(acc[:, 0] - acc[:, 1])
    assert low == pytest.approx(0.25 - 1.96 * 0.02165, abs=0.006)
    assert high == pytest.approx(0.25 + 1.96 * 0.02165, abs=0.006)
    # drawn independently for b (unpaired), the SE is sqrt((.75 * .25 + .5 * .5) / 400) = 0.033: wider
    unpaired = intervals.resample_groups(b[:, None], np.zeros(400), 4000, np.random.default_rng(9))
    wide = intervals.interval(acc[:, 0] - intervals.average(unpaired.replicates, unpaired.sizes)[:, 0])
    assert wide[1] - wide[0] > 1.5 * (high - low)


def test_groups_keep_their_size_and_the_worst_group_is_the_lowest():
    correct = np.array([[1], [1], [0], [1], [0], [0]], dtype=float)  # group 0: 2/3 right, group 1: 1/3
    counts = intervals.resample_groups(correct, np.array([0, 0, 0, 1, 1, 1]), 50, np.random.default_rng(0))
    assert counts.sizes.tolist() == [3, 3]
    assert counts.observed[:, 0].tolist() == [2, 1]
    assert intervals.worst_group(counts.observed, counts.sizes)[0] == pytest.approx(1 / 3)
    assert intervals.average(counts.observed, counts.sizes)[0] == pytest.approx(0.5)
    assert (counts.replicates[:, 0, 0] <= 3).all() and (counts.replicates[:, 1, 0] <= 3).all()
    merged, sizes = intervals.merge_groups(counts.observed, counts.sizes, [0, 0])
    assert merged[:, 0].tolist() == [3] and sizes.tolist() == [6]


def test_objects_are_drawn_whole_where_one_object_shows_on_several_backgrounds():
    # 2 classes x 50 objects, each object on 2 backgrounds (groups class*2 + background), right or wrong on
    # both: an object's images are one draw, so a class's pooled count over its 2 backgrounds is even in
    # every replicate (drawing images independently makes odd ones), and its SE is an object-level one
    rng = np.random.default_rng(4)
    right = rng.random(100) < 0.6
    objects = np.repeat(np.arange(100), 2)
    labels = objects // 50
    groups = labels * 2 + np.tile([0, 1], 100)
    correct = right[objects].astype(float)[:, None]
    clustered = intervals.resample_groups(correct, groups, 2000, np.random.default_rng(0),
                                          clusters=objects, strata=labels)
    assert clustered.sizes.tolist() == [50, 50, 50, 50]
    assert np.allclose(clustered.observed[:, 0], [right[:50].sum()] * 2 + [right[50:].sum()] * 2)
    pooled, _ = intervals.merge_groups(clustered.replicates, clustered.sizes, [0, 0, 1, 1])
    assert (pooled % 2 == 0).all()
    naive = intervals.resample_groups(correct, groups, 2000, np.random.default_rng(0))
    naive_pooled, _ = intervals.merge_groups(naive.replicates, naive.sizes, [0, 0, 1, 1])
    assert (naive_pooled % 2 == 1).any()
    # the pooled accuracy of class 0 has the SE of 50 objects, sqrt(p(1-p)/50), not of 100 images
    p = right[:50].mean()
    assert (pooled[:, 0, 0] / 100).std() == pytest.approx(np.sqrt(p * (1 - p) / 50), rel=0.1)
    assert (naive_pooled[:, 0, 0] / 100).std() == pytest.approx(np.sqrt(p * (1 - p) / 100), rel=0.1)
    # an object missing from one background: objects cannot be drawn with every group keeping its size
    with pytest.raises(ValueError, match="same images per group"):
        intervals.resample_groups(correct[1:], groups[1:], 10, clusters=objects[1:], strata=labels[1:])
    with pytest.raises(ValueError, match="several strata"):
        intervals.resample_groups(correct, groups, 10, clusters=objects, strata=np.tile([0, 1], 100))


def test_seed_level_mean_and_draws():
    # metric per seed 0.1, 0.2, 0.3, 0.4, 0.5, no image noise: the mean is 0.3 and each replicate
    # the mean of 5 seeds drawn with replacement, so within [0.1, 0.5] and centred on 0.3
    per_seed = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    draws = intervals.seed_draws(4000, 5, np.random.default_rng(3))
    mean, reps = intervals.seed_mean(per_seed, np.tile(per_seed, (4000, 1)), draws)
    assert mean == pytest.approx(0.3)
    assert reps.min() >= 0.1 and reps.max() <= 0.5
    assert reps.mean() == pytest.approx(0.3, abs=0.005)
    # the standard error of a mean of 5 draws: sd(population) / sqrt(5) = 0.1414 / 2.236 = 0.0632
    assert reps.std() == pytest.approx(np.std(per_seed) / np.sqrt(5), rel=0.05)
    single, reps1 = intervals.seed_mean(np.array([0.7]), np.full((10, 1), 0.7), draws[:10])
    assert single == 0.7 and (reps1 == 0.7).all()
    # paired by seed: b = a + 0.05 on every seed gives a difference of exactly 0.05 in every replicate
    _, reps_b = intervals.seed_mean(per_seed + 0.05, np.tile(per_seed + 0.05, (4000, 1)), draws)
    assert np.allclose(reps_b - reps, 0.05)


def test_seed_comparison_tables_on_a_small_world():
    index = pd.DataFrame({
        "id": [f"i{k}" for k in range(12)],
        "split": ["train"] * 4 + ["test"] * 8,
        "label": [0, 0, 1, 1] + [0, 0, 0, 0, 1, 1, 1, 1],
        "attribute": ["a", "a", "b", "b"] + ["a", "a", "b", "b", "b", "b", "a", "a"],
    })
    test = index[index["split"] == "test"]
    rows = []
    for seed in range(3):
        for method, right in (("finetune_clip", [1, 1, 0, 1, 1, 1, 0, 1]), ("ours_ls", [1, 1, 1, 1, 1, 1, 1, 1])):
            pred = np.where(np.array(right) == 1, test["label"], 1 - test["label"])
            rows.append(pd.DataFrame({"method": method, "model": "clip", "seed": seed, "id": test["id"],
                                      "split": "test", "pred": pred}))
    table, paired = seed_comparison(pd.concat(rows), index, replicates=200)
    assert list(table.columns) == ["method", "model", "metric", "mean", "ci_low", "ci_high", "n_seeds"]
    ours = table[(table["method"] == "ours_ls")].set_index("metric")
    assert ours.loc["worst_group_accuracy", "mean"] == 1.0 and ours.loc["worst_group_accuracy", "ci_low"] == 1.0
    base = table[(table["method"] == "finetune_clip")].set_index("metric")
    # uncommon groups (class 0 on b, class 1 on a): 1/2 right each; common: 2/2
    assert base.loc["coarse_worst_group_accuracy", "mean"] == pytest.approx(0.5)
    assert base.loc["average_accuracy", "mean"] == pytest.approx(0.75)
    assert (table["n_seeds"] == 3).all()
    diff = paired.set_index("metric").loc["average_accuracy"]
    assert list(paired.columns) == ["method_a", "method_b", "model", "metric", "mean_diff", "ci_low", "ci_high"]
    assert diff["mean_diff"] == pytest.approx(0.25) and diff["ci_low"] <= 0.25 <= diff["ci_high"]
    # the test images as 4 objects, each on both attributes (a paired layout): the interval draws objects,
    # so finetune_clip (each object right on one attribute, wrong on the other for objects 1 and 3) keeps
    # its per-object pairs: its coarse worst group's interval is the same or wider than drawing images
    paired_index = index.assign(object=[f"t{k}" for k in range(4)] + ["o0", "o1", "o0", "o1", "o2", "o3", "o2", "o3"])
    by_object, _ = seed_comparison(pd.concat(rows), paired_index, replicates=200)
    assert by_object[["method", "metric", "mean"]].equals(table[["method", "metric", "mean"]])
    from clipmend.spurious.report import _object_clusters

    drawn = _object_clusters(paired_index[paired_index["split"] == "test"])
    assert drawn["clusters"].tolist() == ["o0", "o1", "o0", "o1", "o2", "o3", "o2", "o3"]
    assert drawn["strata"].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert _object_clusters(index.assign(object=index["id"])) == {}  # one image per object: images drawn


def test_the_readme_says_beats_only_where_the_paired_interval_excludes_zero():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "readme_results.py"
    spec = importlib.util.spec_from_file_location("readme_results", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.verdict(0.004, 0.05) == "beats"
    assert module.verdict(-0.001, 0.05) == "does not differ detectably from"
    assert module.verdict(-0.2, -0.01) == "is beaten by"


def test_object_clusters_only_where_an_object_shows_in_several_images():
    """Broken change caught: a NaN object (an image of no known object) drawn as one object."""
    labels = np.array([0, 0, 1, 1])
    found = intervals.object_clusters(["a", "a", "b", "b"], labels)
    assert found["clusters"].tolist() == ["a", "a", "b", "b"] and found["strata"].tolist() == [0, 0, 1, 1]
    assert intervals.object_clusters(["a", "b", "c", "d"], labels) == {}  # each image its own object
    assert intervals.object_clusters(["a", "a", None, "b"], labels) == {}
    assert intervals.object_clusters(np.array(["a", "a", np.nan, "b"], dtype=object), labels) == {}
    assert intervals.object_clusters(None, labels) == {}
