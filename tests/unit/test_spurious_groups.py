"""Group accuracy, worst-group and adjusted accuracy on hand-counted examples (Waterbirds train sizes)."""

import numpy as np
import pytest

from clipmend.spurious.groups import (
    coarse_groups,
    common_attributes,
    group_accuracy,
    group_sizes,
    summarize,
)

BIRDS = ["landbird", "waterbird"]
WATERBIRDS_TRAIN = {("landbird", "land"): 3498, ("landbird", "water"): 184,
                    ("waterbird", "land"): 56, ("waterbird", "water"): 1057}


def _images(spec):
    """labels, preds, attributes from [(label, attribute, n, n_correct)]."""
    labels, preds, attrs = [], [], []
    for label, attr, n, correct in spec:
        labels += [label] * n
        preds += [label] * correct + [1 - label] * (n - correct)
        attrs += [attr] * n
    return np.array(labels), np.array(preds), np.array(attrs)


def test_waterbirds_group_table_and_summary():
    labels, preds, attrs = _images([(0, "land", 100, 90), (0, "water", 100, 50),
                                    (1, "land", 50, 20), (1, "water", 50, 45)])
    table = group_accuracy(labels, preds, attrs, BIRDS)
    assert table.columns.tolist() == ["class_name", "attribute", "n", "correct", "accuracy"]
    assert table[["class_name", "attribute", "n", "correct"]].values.tolist() == [
        ["landbird", "land", 100, 90], ["landbird", "water", 100, 50],
        ["waterbird", "land", 50, 20], ["waterbird", "water", 50, 45]]
    out = summarize(table, WATERBIRDS_TRAIN)
    assert out["worst_group_accuracy"] == pytest.approx(0.4)
    assert out["worst_group"] == "waterbird / land"
    assert out["average_accuracy"] == pytest.approx(205 / 300)
    # (3498·.9 + 184·.5 + 56·.4 + 1057·.9) / 4795
    assert out["adjusted_accuracy"] == pytest.approx(4213.9 / 4795)


def test_groups_missing_from_train_weigh_zero_and_no_overlap_fails():
    labels, preds, attrs = _images([(0, "land", 10, 10), (0, "lava", 10, 0)])
    table = group_accuracy(labels, preds, attrs, BIRDS)
    assert len(table) == 2  # only non-empty groups
    out = summarize(table, {("landbird", "land"): 7})
    assert out["adjusted_accuracy"] == 1.0 and out["worst_group_accuracy"] == 0.0
    with pytest.raises(ValueError, match="no evaluated group has train images"):
        summarize(table, {("waterbird", "land"): 7})
    with pytest.raises(ValueError, match="no rows"):
        summarize(table.iloc[:0], WATERBIRDS_TRAIN)


def test_group_sizes_counts_train_groups():
    labels, _, attrs = _images([(0, "land", 3, 3), (1, "water", 2, 0), (1, "land", 1, 0)])
    assert group_sizes(labels, attrs, BIRDS) == {("landbird", "land"): 3, ("waterbird", "land"): 1,
                                                 ("waterbird", "water"): 2}


def test_common_attributes_and_coarse_groups():
    labels = np.array([0] * 5 + [1] * 5)
    attrs = np.array(list("aaabc") + list("bbcca"))  # 3 values: threshold 1/3
    common = common_attributes(labels, attrs)
    assert common == {0: {"a"}, 1: {"b", "c"}}  # class 0: a .6; class 1: b .4, c .4, a .2
    coarse = coarse_groups(np.array([0, 0, 1, 1, 2]), np.array(list("abbaa")), common)
    assert coarse.tolist() == ["common", "uncommon", "common", "uncommon", "uncommon"]


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="different lengths"):
        group_accuracy(np.array([0, 1]), np.array([0]), np.array(["a", "b"]), BIRDS)
    with pytest.raises(ValueError, match=r"\[0, 2\].*2 class names"):
        group_accuracy(np.array([0, 2]), np.array([0, 2]), np.array(["a", "b"]), BIRDS)


def test_common_attribute_in_a_one_attribute_per_class_world():
    # 3 classes, each with its own attribute (90%) or none (10%): 4 values overall, but each class
    # appears with 2, so only its attribute is common (1/4 would also count "none" at 10%)
    labels = np.repeat([0, 1, 2], 10)
    values = np.array([v for c in ("red", "blue", "dots") for v in [c] * 9 + ["none"]])
    assert common_attributes(labels, values) == {0: {"red"}, 1: {"blue"}, 2: {"dots"}}
