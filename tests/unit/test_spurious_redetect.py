"""Re-detection after the fix: δ before/after with paired intervals, targets, and the Whac-A-Mole verdicts."""

import numpy as np
import pandas as pd
import pytest

from clipmend.spurious.detect import accuracy_discrepancy, presence_from_attribute
from clipmend.spurious.redetect import redetect, summarize, targeted_attributes

CLASSES = ["boot", "bag"]
ATTRIBUTES = np.array(["water", "grass", "sand"])


def world(n=1800, seeds=5, after_acc=None, seed=0):
    """Images of 2 classes on 3 attributes; before: right on water (the shortcut), weak elsewhere."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    attributes = ATTRIBUTES[rng.integers(0, 3, n)]
    before_acc = {"water": 0.9, "grass": 0.5, "sand": 0.7}
    before = rng.random(n) < np.vectorize(before_acc.get)(attributes)
    acc = after_acc or before_acc
    after = rng.random((n, seeds)) < np.vectorize(acc.get)(attributes)[:, None]
    return labels, attributes, before, after


def test_delta_before_is_the_detection_delta():
    labels, attributes, before, after = world()
    table = redetect(labels, attributes, before, after, CLASSES, {}, min_detect=1, replicates=200)
    found = accuracy_discrepancy(labels, before, presence_from_attribute(attributes), CLASSES, min_detect=1, top=3)
    merged = table.merge(found, on=["class_name", "attribute"])
    assert len(merged) == len(found) > 0
    np.testing.assert_allclose(merged["delta_before"], merged["delta"])
    assert (merged["delta_before_low"] <= merged["delta_before"]).all()
    assert (merged["delta_before"] <= merged["delta_before_high"]).all()


def test_a_fix_that_changes_nothing_is_unchanged_everywhere():
    """After draws again from the before accuracies: the point changes are noise, and no interval calls them."""
    labels, attributes, before, after = world(after_acc={"water": 0.9, "grass": 0.5, "sand": 0.7})
    table = redetect(labels, attributes, before, after, CLASSES, {0: {"grass"}}, replicates=300)
    assert (table["abs_change"].abs() > 0.005).any()  # noise a point-estimate verdict would call a change
    assert (table["verdict"] == "unchanged").all()
    same = redetect(labels, attributes, before, np.repeat(before[:, None], 5, axis=1), CLASSES, {}, replicates=100)
    np.testing.assert_allclose(same["abs_change"], 0.0, atol=1e-12)
    assert (same["verdict"] == "unchanged").all()


def test_targeted_shrinks_and_a_planted_whac_a_mole_grows():
    """The fix lifts grass (targeted) and sand loses: grass's |δ| shrinks, sand's grows."""
    labels, attributes, before, after = world(after_acc={"water": 0.9, "grass": 0.75, "sand": 0.4})
    targeted = {0: {"grass"}, 1: {"grass"}}
    table = redetect(labels, attributes, before, after, CLASSES, targeted, replicates=400)
    by = table.set_index(["class_name", "attribute"])
    for name in CLASSES:
        assert by.loc[(name, "grass"), "targeted"] and by.loc[(name, "grass"), "verdict"] == "shrank"
        assert not by.loc[(name, "sand"), "targeted"] and by.loc[(name, "sand"), "verdict"] == "grew"
        assert by.loc[(name, "sand"), "acc_with_change_high"] < 0
    summary = summarize(table.assign(model="m", strategy="individual")).iloc[0]
    assert summary["targeted_shrank"] == summary["targeted_pairs"] == 2
    assert summary["other_grew"] == summary["other_grew_acc_fell"] == 2 and summary["whac_a_mole"]


def test_seed_noise_widens_the_after_interval():
    """Seeds that disagree make the after interval wider than one seed repeated."""
    labels, attributes, before, after = world()
    noisy = after.copy()
    noisy[:, 0] = attributes == "grass"  # one seed far off: right on grass only
    steady = np.repeat(after[:, [1]], 5, axis=1)
    width = {}
    for name, cols in (("steady", steady), ("noisy", noisy)):
        t = redetect(labels, attributes, before, cols, CLASSES, {}, replicates=400)
        width[name] = (t["delta_after_high"] - t["delta_after_low"]).mean()
    assert width["noisy"] > 2 * width["steady"]


def test_small_pairs_are_left_out_and_misaligned_input_is_refused():
    labels, attributes, before, after = world(n=300)
    table = redetect(labels, attributes, before, after, CLASSES, {}, min_detect=60, replicates=50)
    assert (table["n_with"] >= 60).all() and len(table) < 6
    with pytest.raises(ValueError, match="aligned"):
        redetect(labels[:-1], attributes, before, after, CLASSES, {})
    with pytest.raises(ValueError, match="min_detect"):
        redetect(labels, attributes, before, after, CLASSES, {}, min_detect=0)


def test_targets_resolve_phrases_and_skip_unknown_ones():
    def resolve(phrase):
        names = {"on a lawn": "grass", "in a lake": "water"}
        if phrase not in names:
            raise ValueError(f"{phrase!r} is not a known background")
        return names[phrase]

    assert targeted_attributes({0: ["on a lawn", "on mars"], 1: ["in a lake"]}, resolve) == {
        0: {"grass"}, 1: {"water"}}


def test_no_attribute_gives_an_empty_table():
    table = redetect([0, 1], [None, None], [True, False], np.ones((2, 2), bool), CLASSES, {})
    assert table.empty and isinstance(table, pd.DataFrame)


def test_a_paired_test_split_draws_objects_so_a_within_object_contrast_narrows_the_interval():
    """Broken change caught: re-detection drawing images one by one on the demo's paired test split.
    δ compares each object with itself on other backgrounds (with vs without the attribute), so an
    object hard everywhere cancels out of it; drawing images as if independent ignores that pairing
    and gives δ a far wider interval than its sampling spread."""
    rng = np.random.default_rng(0)
    objects_per_class = 60
    labels = np.repeat([0, 1], objects_per_class * 3)
    objects = np.repeat([f"o{i}" for i in range(2 * objects_per_class)], 3)  # each object on 3 backgrounds
    attributes = np.tile(ATTRIBUTES, 2 * objects_per_class)
    hard = np.repeat(rng.random(2 * objects_per_class) < 0.5, 3)  # one draw per object
    before = ~hard | (attributes == "water")
    after = np.repeat(before[:, None], 3, axis=1)
    width = {}
    for name, given in (("images", None), ("objects", objects)):
        table = redetect(labels, attributes, before, after, CLASSES, {}, min_detect=1, replicates=400, objects=given)
        row = table[(table["class_name"] == "boot") & (table["attribute"] == "grass")].iloc[0]
        width[name] = row["delta_before_high"] - row["delta_before_low"]
    assert width["objects"] < 0.7 * width["images"], width
