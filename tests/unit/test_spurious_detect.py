"""Spurious-attribute detection by accuracy discrepancy: hand numbers and a planted world."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from clipmend.spurious.detect import (
    DETECT_COLUMNS,
    accuracy_discrepancy,
    mutual_information,
    precision_at_1,
    presence_from_attribute,
    presence_from_clip,
)


def _tiny():
    """8 images of class 'cat' with hand-checkable grass/sand/water presence, 2 of 'dog'."""
    correct = np.array([1, 1, 1, 0, 1, 0, 0, 0, 1, 0], dtype=bool)
    presence = pd.DataFrame({
        "grass": [1, 1, 1, 1, 0, 0, 0, 0, 1, 1],  # cat: acc 3/4 with, 1/4 without
        "sand": [1, 0, 0, 1, 1, 1, 0, 0, 0, 1],  # cat: independent of error -> MI 0
        "water": [0, 0, 0, 0, 0, 0, 0, 1, 1, 0],  # cat: a single detection
    }).astype(bool)
    labels = np.array([0] * 8 + [1] * 2)
    return labels, correct, presence


def test_delta_and_mi_match_hand_numbers():
    labels, correct, presence = _tiny()
    out = accuracy_discrepancy(labels, correct, presence, ["cat", "dog"], min_detect=2, top=5)
    assert list(out.columns) == DETECT_COLUMNS
    # sand (MI 0) and water (1 detection < 2) are dropped; dog: grass present in both -> MI 0
    assert out[["class_name", "attribute", "rank"]].values.tolist() == [["cat", "grass", 1]]
    row = out.iloc[0]
    assert (row["n_with"], row["n_without"]) == (4, 4)
    assert row["acc_with"] == 0.75 and row["acc_without"] == 0.25 and row["delta"] == 0.5
    # joint of (grass, error): 1/8, 3/8, 3/8, 1/8 with uniform marginals
    expected_mi = 2 * (1 / 8) * math.log((1 / 8) / (1 / 4)) + 2 * (3 / 8) * math.log((3 / 8) / (1 / 4))
    assert row["mi"] == pytest.approx(expected_mi, abs=1e-12)
    assert row["mi"] == pytest.approx(0.25 * math.log(0.5) + 0.75 * math.log(1.5))


def test_mutual_information_is_zero_for_constant_or_independent_columns():
    present = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 0, 1], [1, 0, 1, 1]], dtype=bool)
    error = np.array([0, 0, 1, 1], dtype=bool)
    mi = mutual_information(present, error)
    assert mi[0] == 0 and mi[1] == 0 and mi[2] == 0  # constant; independent; independent
    assert mi[3] == pytest.approx(math.log(2))  # equal to error: MI = H(error) = ln 2
    assert mutual_information(present, np.zeros(4, bool)).tolist() == [0, 0, 0, 0]


def test_min_detect_filters():
    labels, correct, presence = _tiny()
    assert accuracy_discrepancy(labels, correct, presence, ["cat", "dog"], min_detect=5).empty
    out = accuracy_discrepancy(labels, correct, presence, ["cat", "dog"], min_detect=1)
    cat = out[out["class_name"] == "cat"]
    assert cat["attribute"].tolist() == ["grass", "water"]  # water: 1 detection, now kept
    assert cat["rank"].tolist() == [1, 2] and cat["mi"].is_monotonic_decreasing
    # dog (2 images): sand and water each flag its one error; grass is present in both
    assert set(out.loc[out["class_name"] == "dog", "attribute"]) == {"sand", "water"}


def _planted_world(seed=0, n=4000, n_classes=5, n_attributes=8):
    """Random labels and attributes; a class is mostly right only on its planted attribute."""
    rng = np.random.default_rng(seed)
    names = [f"attr{i}" for i in range(n_attributes)]
    labels = rng.integers(0, n_classes, n)
    attribute = rng.integers(0, n_attributes, n)
    planted = np.array([3, 0, 7, 5, 1])  # class -> its spurious attribute
    p_correct = np.where(attribute == planted[labels], 0.9, 0.45)
    correct = rng.random(n) < p_correct
    classes = [f"class{c}" for c in range(n_classes)]
    truth = {classes[c]: {names[planted[c]]} for c in range(n_classes)}
    return labels, correct, presence_from_attribute([names[a] for a in attribute]), classes, truth


def test_planted_attribute_is_rank_one_for_every_class():
    labels, correct, presence, classes, truth = _planted_world()
    out = accuracy_discrepancy(labels, correct, presence, classes, min_detect=10, top=3)
    first = out[out["rank"] == 1]
    assert len(first) == 5
    assert precision_at_1(out, truth) == (1.0, 5)
    assert first["delta"].between(0.35, 0.55).all()
    assert out.groupby("class_name").size().max() <= 3
    # classes are ordered by their largest delta, each class's rows contiguous by rank
    top_delta = out.groupby("class_name", sort=False)["delta"].max()
    assert top_delta.is_monotonic_decreasing and list(top_delta.index) == list(dict.fromkeys(out["class_name"]))


def test_precision_at_1_counts_misses_and_unknown_classes():
    rows = pd.DataFrame({
        "class_name": ["a", "a", "b", "c"], "attribute": ["x", "y", "z", "x"], "rank": [1, 2, 1, 1],
    })
    assert precision_at_1(rows, {"a": {"x"}, "b": {"y"}}) == (pytest.approx(1 / 3), 3)
    assert precision_at_1(rows.iloc[:0], {"a": {"x"}})[1] == 0


def test_presence_from_attribute_one_column_per_value():
    out = presence_from_attribute(pd.Series(["water", "land", None, "water"], index=[5, 6, 7, 8]))
    assert list(out.columns) == ["land", "water"] and list(out.index) == [5, 6, 7, 8]
    assert out["water"].tolist() == [True, False, False, True] and not out.loc[7].any()


def test_presence_from_clip_argmax_and_threshold():
    attrs = np.eye(3)
    images = np.array([[0.9, 0.1, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    top = presence_from_clip(images, attrs, ["water", "grass", "snow"])
    assert top.values.tolist() == [[True, False, False], [True, False, False], [False, False, True]]
    both = presence_from_clip(images, attrs, ["water", "grass", "snow"], threshold=0.4)
    assert both.values.tolist() == [[True, False, False], [True, True, False], [False, False, True]]
    with pytest.raises(ValueError, match="threshold"):
        presence_from_clip(images, attrs, ["water", "grass", "snow"], threshold=0)
    with pytest.raises(ValueError, match="2 names"):
        presence_from_clip(images, attrs, ["water", "grass"])


def test_misaligned_inputs_are_named():
    labels, correct, presence = _tiny()
    with pytest.raises(ValueError, match="aligned"):
        accuracy_discrepancy(labels[:-1], correct, presence, ["cat", "dog"])
    with pytest.raises(ValueError, match="labels must be in"):
        accuracy_discrepancy(labels, correct, presence, ["cat"])


def test_rank_by_delta_puts_the_attribute_that_raises_accuracy_first():
    # 40 images of one class; x present on 20 (18 right) vs absent (12 of 20 right): delta +0.3;
    # z present on 10 (0 right) vs absent (30 of 30 right): delta -1, and the larger MI
    correct = np.r_[np.ones(18), np.zeros(2), np.ones(12), np.zeros(8)].astype(bool)
    x = np.r_[np.ones(20), np.zeros(20)].astype(bool)
    z = ~correct & np.r_[np.ones(40)].astype(bool)
    presence = pd.DataFrame({"x": x, "z": z})
    labels = np.zeros(40, dtype=int)
    by_delta = accuracy_discrepancy(labels, correct, presence, ["c"], min_detect=5)
    by_mi = accuracy_discrepancy(labels, correct, presence, ["c"], min_detect=5, rank_by="mi")
    assert by_delta["attribute"].tolist() == ["x", "z"]
    assert by_mi["attribute"].tolist() == ["z", "x"]
    assert by_delta.set_index("attribute").loc["x", "delta"] == pytest.approx(18 / 20 - 12 / 20)
    with pytest.raises(ValueError, match="rank_by is 'size'; valid: \\['delta', 'mi'\\]"):
        accuracy_discrepancy(labels, correct, presence, ["c"], rank_by="size")


def test_each_class_takes_its_spurious_attributes_from_the_detections_or_the_oracle():
    from clipmend.spurious.steps import _spurious_mask, spurious_attributes

    meta = pd.DataFrame({"split": ["train"] * 10, "label": [0] * 5 + [1] * 5,
                         "attribute": ["land"] * 4 + ["water"] + ["water"] * 4 + ["land"]})
    record = {"meta": meta, "class_names": ["landbird", "waterbird"], "attributes": ["land", "water"]}
    assert spurious_attributes(record, None, 1) == {0: ["land"], 1: ["water"]}
    found = pd.DataFrame({"class_name": ["waterbird", "waterbird", "landbird"], "attribute": ["land", "water", "sky"],
                          "rank": [2, 1, 1]})
    chosen = spurious_attributes(record, found, 2)
    assert chosen == {1: ["water", "land"], 0: []}  # by rank; sky is not in the vocabulary
    assert _spurious_mask(record, chosen).tolist() == [[False, False], [True, True]]
    assert spurious_attributes(record, found, 1)[1] == ["water"]
    with pytest.raises(ValueError, match="class 'heron'"):
        spurious_attributes(record, found.assign(class_name="heron"), 1)
