import numpy as np
import pandas as pd

from clipmend.debugging.failures import collect_failures, predict, split_parts


def test_predict_is_argmax_of_linear_head():
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    w = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    assert predict(x, w, np.zeros(3)).tolist() == [0, 2]
    assert predict(x, w, np.array([0.0, 5.0, 0.0])).tolist() == [1, 1]


def test_split_is_half_per_class_and_independent_of_row_order():
    ids = pd.Series([f"img{i}" for i in range(41)])
    labels = pd.Series([i % 2 for i in range(41)])
    parts = split_parts(ids, labels, seed=0)
    for label in (0, 1):
        counts = parts[labels == label].value_counts()
        assert abs(counts["debug_seed"] - counts["debug_heldout"]) <= 1
    shuffled = np.random.default_rng(1).permutation(41)
    parts2 = split_parts(ids.iloc[shuffled], labels.iloc[shuffled], seed=0)
    assert (parts2.sort_index() == parts).all()


def test_split_depends_on_seed():
    ids = pd.Series([f"img{i}" for i in range(100)])
    labels = pd.Series([0] * 100)
    assert not (split_parts(ids, labels, 0) == split_parts(ids, labels, 1)).all()


def test_collect_failures_keeps_only_wrong_predictions():
    meta = pd.DataFrame({"id": ["a", "b", "c", "d"], "label": [0, 1, 0, 1]})
    failures = collect_failures(meta, np.array([0, 0, 1, 1]), seed=0)
    assert failures["id"].tolist() == ["b", "c"]
    assert failures["pred"].tolist() == [0, 1]
    assert set(failures["part"]) <= {"debug_seed", "debug_heldout"}


def test_an_image_has_the_same_part_for_every_model():
    """The split is of the debug set, not of a model's failures: no seed/heldout leak across models."""
    rng = np.random.default_rng(0)
    debug = pd.DataFrame({"id": [f"img{i}" for i in range(400)], "label": rng.integers(0, 4, 400)})
    parts = {}
    for _ in range(5):
        pred = np.where(rng.random(400) < 0.4, (debug["label"] + 1) % 4, debug["label"])
        failures = collect_failures(debug, pred, seed=3)
        for image, part in zip(failures["id"], failures["part"]):
            assert parts.setdefault(image, part) == part
    whole = split_parts(debug["id"], debug["label"], seed=3)
    assert abs((whole == "debug_seed").mean() - 0.5) < 0.02
