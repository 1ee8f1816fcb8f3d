import numpy as np
import pandas as pd
import pytest

from clipmend.evaluation.iou import failure_iou, family_order, iou_summary


def test_identical_sets_give_one_and_disjoint_sets_zero():
    iou = failure_iou({"a": {"1", "2"}, "b": {"2", "1"}, "c": {"3"}}, ["a", "b", "c"])
    assert iou.loc["a", "b"] == 1.0
    assert iou.loc["a", "c"] == 0.0
    assert iou.loc["b", "c"] == 0.0
    np.testing.assert_array_equal(np.diag(iou), 1.0)


def test_hand_computed_example_is_symmetric_and_follows_order():
    failures = {"A": {"1", "2", "3", "4"}, "B": {"3", "4", "5"}, "C": {"4", "6"}}
    iou = failure_iou(failures, ["C", "A", "B"])
    assert list(iou.index) == list(iou.columns) == ["C", "A", "B"]
    assert iou.loc["A", "B"] == pytest.approx(2 / 5)  # {3,4} / {1..5}
    assert iou.loc["A", "C"] == pytest.approx(1 / 5)  # {4} / {1,2,3,4,6}
    assert iou.loc["B", "C"] == pytest.approx(1 / 4)  # {4} / {3,4,5,6}
    np.testing.assert_array_equal(iou.to_numpy(), iou.to_numpy().T)


def test_failure_tables_use_their_id_column_and_order_may_be_a_subset():
    table = pd.DataFrame(
        {
            "id": ["x", "y", "z"],
            "label": [0, 1, 2],
            "pred": [1, 2, 0],
            "part": ["debug_seed", "debug_heldout", "debug_seed"],
        }
    )
    iou = failure_iou({"t": table, "s": {"y", "z", "w"}, "unused": {"q"}}, ["t", "s"])
    assert iou.shape == (2, 2)
    assert iou.loc["t", "s"] == pytest.approx(2 / 4)


def test_two_models_without_failures_are_identical():
    iou = failure_iou({"a": set(), "b": set(), "c": {"1"}}, ["a", "b", "c"])
    assert iou.loc["a", "b"] == 1.0
    assert iou.loc["a", "c"] == 0.0


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="'missing'"):
        failure_iou({"a": {"1"}}, ["a", "missing"])
    with pytest.raises(ValueError, match="twice.*'a'"):
        failure_iou({"a": {"1"}}, ["a", "a"])
    with pytest.raises(ValueError, match="'id' column"):
        failure_iou({"a": pd.DataFrame({"image": ["1"]})}, ["a"])


def test_family_order_groups_families_in_first_appearance_order():
    families = {
        "r18": "resnet",
        "dino_s": "dino",
        "r50": "resnet",
        "dino_b": "dino",
        "clip": "clip",
    }
    assert family_order(families, families) == ["r18", "r50", "dino_s", "dino_b", "clip"]
    with pytest.raises(ValueError, match="'x'"):
        family_order(["r18", "x"], families)


def _matrix(models, pairs):
    values = np.eye(len(models))
    for (a, b), v in pairs.items():
        i, j = models.index(a), models.index(b)
        values[i, j] = values[j, i] = v
    return pd.DataFrame(values, index=models, columns=models)


def test_summary_within_and_across_families_by_hand():
    models = ["a", "b", "c", "d", "e"]
    iou = _matrix(
        models,
        {
            ("a", "b"): 0.8,
            ("c", "d"): 0.6,
            ("a", "c"): 0.2,
            ("a", "d"): 0.3,
            ("b", "c"): 0.4,
            ("b", "d"): 0.1,
            ("a", "e"): 0.5,
            ("b", "e"): 0.5,
            ("c", "e"): 0.0,
            ("d", "e"): 0.0,
        },
    )
    families = {"a": "X", "b": "X", "c": "Y", "d": "Y", "e": "Z"}
    summary = iou_summary(iou, families).set_index("family")
    assert list(summary.index) == ["X", "Y", "Z", "all families"]
    assert summary.loc["X", "within"] == pytest.approx(0.8)
    assert summary.loc["X", "across"] == pytest.approx((0.2 + 0.3 + 0.4 + 0.1 + 0.5 + 0.5) / 6)
    assert summary.loc["Y", "within"] == pytest.approx(0.6)
    assert summary.loc["Y", "across"] == pytest.approx((0.2 + 0.3 + 0.4 + 0.1 + 0 + 0) / 6)
    assert np.isnan(summary.loc["Z", "within"])  # a one-model family has no within pair
    assert summary.loc["Z", "across"] == pytest.approx(1.0 / 4)
    assert summary.loc["all families", "within"] == pytest.approx(0.7)  # diagonal excluded
    assert summary.loc["all families", "across"] == pytest.approx(2.0 / 8)
    assert summary.loc["X", ["within_pairs", "across_pairs"]].tolist() == [1, 6]
    assert summary.loc["all families", ["within_pairs", "across_pairs"]].tolist() == [2, 8]


def test_summary_needs_a_family_for_every_model():
    iou = _matrix(["a", "b"], {("a", "b"): 0.5})
    with pytest.raises(ValueError, match="'b'"):
        iou_summary(iou, {"a": "X"})
