import numpy as np
import pandas as pd

from clipmend.evaluation.metrics import COLUMNS, evaluation_sets, metric_rows, summarise


def _meta():
    return pd.DataFrame({"id": ["t1", "t2", "v1", "v2", "v3"],
                         "split": ["test", "test", "val", "val", "val"],
                         "label": [0, 1, 0, 1, 1]})


def test_metric_rows_long_format_and_values():
    meta = _meta()
    failures = pd.DataFrame({"id": ["v1", "v3"], "part": ["debug_seed", "debug_heldout"]})
    sets = evaluation_sets(meta, failures)
    labels = meta["label"].to_numpy()
    preds = {"baseline": np.array([0, 0, 1, 1, 0]), "individual": np.array([0, 1, 0, 1, 1])}
    rows = metric_rows("demo", "m", "fam", preds, labels, sets)
    assert list(rows.columns) == COLUMNS
    got = rows.set_index(["strategy", "split"])
    assert got.loc[("baseline", "test"), "accuracy"] == 0.5
    assert got.loc[("baseline", "debug_seed"), "accuracy"] == 0.0
    assert got.loc[("individual", "debug_heldout"), "accuracy"] == 1.0
    assert got.loc[("individual", "test"), "n"] == 2


def test_empty_set_gives_nan_not_error():
    meta = _meta()
    sets = evaluation_sets(meta, pd.DataFrame({"id": [], "part": []}))
    rows = metric_rows("d", "m", "f", {"baseline": np.zeros(5, int)}, meta["label"].to_numpy(), sets)
    seed_accuracy = rows.set_index("split").loc["debug_seed", "accuracy"]
    assert seed_accuracy != seed_accuracy  # NaN: no debug_seed failures


def test_summary_averages_over_models():
    m = pd.DataFrame([
        ("d", "a", "f", "baseline", "debug_heldout", 0.1, 10),
        ("d", "a", "f", "individual", "debug_heldout", 0.5, 10),
        ("d", "b", "f", "baseline", "debug_heldout", 0.3, 10),
        ("d", "b", "f", "individual", "debug_heldout", 0.5, 10),
    ], columns=COLUMNS)
    s = summarise(m).set_index("strategy")
    assert abs(s.loc["baseline", "debug_heldout"] - 0.2) < 1e-9
