import numpy as np
import pandas as pd
import pytest

from clipmend.clip.assign import top_backgrounds
from clipmend.config import family_members, representatives, source_names
from clipmend.debugging.collective import (
    Source,
    collective_metrics,
    matrix_rows,
    overlap_summary,
    pool_assignments,
    relative_accuracy,
    resolution_rows,
    resolved_overlap,
    strategy_sources,
)
from clipmend.evaluation.metrics import COLUMNS

MODELS_CFG = {
    "r18": {"family": "resnet"},
    "vit_s": {"family": "dino"},
    "r50": {"family": "resnet"},
    "vit_b": {"family": "dino"},
}


def assignments(rows):
    """An assignments table from (id, label, part, background) tuples."""
    frame = pd.DataFrame(rows, columns=["id", "label", "part", "background"])
    return frame.assign(pred=(frame["label"] + 1) % 3, score=0.9)


def test_family_members_and_representatives():
    assert family_members(MODELS_CFG) == {"resnet": ["r18", "r50"], "dino": ["vit_s", "vit_b"]}
    assert representatives(MODELS_CFG) == {"resnet": "r18", "dino": "vit_s"}
    assert representatives(MODELS_CFG, {"dino": "vit_b"}) == {"resnet": "r18", "dino": "vit_b"}
    with pytest.raises(ValueError, match="'r50'.*'dino'"):
        representatives(MODELS_CFG, {"dino": "r50"})
    with pytest.raises(ValueError, match="'clip'"):
        representatives(MODELS_CFG, {"clip": "r18"})
    with pytest.raises(ValueError, match="'x' has no family"):
        family_members({"x": {"arch": "resnet18"}})


def test_pool_counts_each_members_failure_and_strict_keeps_heldout_unseen():
    by_model = {
        "r18": assignments(
            [
                ("i1", 0, "debug_seed", "sand"),
                ("i2", 0, "debug_seed", "snow"),
                ("i3", 0, "debug_heldout", "snow"),
                ("i4", 1, "debug_seed", "lava"),
            ]
        ),
        "r50": assignments(
            [
                ("i1", 0, "debug_seed", "sand"),
                ("i3", 0, "debug_seed", "snow"),
                ("i5", 0, "debug_seed", "sand"),
                ("i4", 1, "debug_heldout", "lava"),
            ]
        ),
        "vit_s": assignments([("i9", 0, "debug_seed", "water")]),
    }
    loose = pool_assignments(by_model, ["r18", "r50"], strict=False)
    assert sorted(zip(loose["model"], loose["id"])) == [
        ("r18", "i1"),
        ("r18", "i2"),
        ("r18", "i4"),
        ("r50", "i1"),
        ("r50", "i3"),
        ("r50", "i5"),
    ]
    assert set(loose["part"]) == {"debug_seed"}
    assert top_backgrounds(loose, 1) == {
        0: ["sand"],
        1: ["lava"],
    }  # sand 3x (i1 twice, i5) vs snow 2x
    strict = pool_assignments(by_model, ["r18", "r50"])
    # i3 is r18's heldout and i4 is r50's heldout: neither may shape the family's set
    assert sorted(zip(strict["model"], strict["id"])) == [
        ("r18", "i1"),
        ("r18", "i2"),
        ("r50", "i1"),
        ("r50", "i5"),
    ]
    assert top_backgrounds(strict, 2) == {0: ["sand", "snow"]}
    with pytest.raises(ValueError, match="'vit_b'"):
        pool_assignments(by_model, ["vit_s", "vit_b"])


def test_source_names_and_strategy_sources():
    assert source_names(MODELS_CFG) == [
        "model-r18",
        "model-vit_s",
        "model-r50",
        "model-vit_b",
        "family-resnet",
        "family-dino",
    ]
    assert Source("resnet", "family", "resnet").label == "resnet (pooled)"
    reps = {"resnet": "r18", "dino": "vit_s"}
    assert strategy_sources("r50", "resnet", reps) == {
        "individual": Source("r50", "model", "resnet"),
        "collective_family": Source("resnet", "family", "resnet"),
        "collective_single": Source("r18", "model", "resnet"),
    }
    with pytest.raises(ValueError, match="'clip'"):
        strategy_sources("x", "clip", reps)


def _sets():
    return {
        "test": np.arange(0, 4),
        "debug_seed": np.arange(4, 6),
        "debug_heldout": np.arange(6, 10),
    }


def test_matrix_rows_and_the_collective_strategies_read_off_them():
    labels = np.zeros(10, dtype=int)
    wrong = lambda n_right: np.r_[np.zeros(n_right, int), np.ones(10 - n_right, int)]  # noqa: E731
    reps = {"resnet": "r18"}
    predictions = {
        Source("r18", "model", "resnet"): wrong(10),  # everything right
        Source("r50", "model", "resnet"): wrong(7),  # heldout: 1 of 4 right
        Source("resnet", "family", "resnet"): wrong(8),
    }  # heldout: 2 of 4 right
    matrix = pd.concat(
        [
            matrix_rows("demo", "r50", "resnet", predictions, labels, _sets()),
            matrix_rows("demo", "r18", "resnet", predictions, labels, _sets()),
        ]
    )
    assert len(matrix) == 2 * 3 * 3
    cell = matrix.set_index(["target", "source", "source_kind", "split"])["accuracy"]
    assert cell[("r50", "resnet", "family", "debug_heldout")] == 0.5
    assert cell[("r50", "r50", "model", "debug_heldout")] == 0.25
    metrics = collective_metrics(matrix, reps)
    assert list(metrics.columns) == COLUMNS
    got = metrics.set_index(["model", "strategy", "split"])["accuracy"]
    assert got[("r50", "collective_family", "debug_heldout")] == 0.5
    assert got[("r50", "collective_single", "debug_heldout")] == 1.0  # r18's set
    assert (
        got[("r18", "collective_single", "debug_heldout")] == 1.0
    )  # the representative: its own set
    assert set(metrics["strategy"]) == {"collective_family", "collective_single"}
    with pytest.raises(ValueError, match="'resnet \\(pooled\\)'.*'r50'"):
        collective_metrics(matrix[matrix["source_kind"] == "model"], reps)


def test_resolved_overlap_by_hand():
    labels = np.array([0, 1, 2, 3, 4, 5, 9, 9])
    individual = np.array([0, 1, 2, 3, 0, 0, 9, 9])  # fixes heldout 0, 1, 2, 3
    collective = np.array([1, 1, 2, 0, 4, 0, 9, 0])  # fixes heldout 1, 2, 4
    heldout = np.arange(6)
    assert resolved_overlap(individual, collective, labels, heldout) == pytest.approx(2 / 4)
    assert resolved_overlap(collective, individual, labels, heldout) == pytest.approx(2 / 3)
    assert np.isnan(resolved_overlap(np.zeros(8, int) + 7, collective, labels, heldout))


def test_resolution_rows_and_the_pooled_summary():
    labels = np.array([0, 1, 2, 3])
    heldout = np.arange(4)
    rows = pd.concat(
        [
            resolution_rows(
                "demo",
                "a",
                "f",
                {"individual": np.array([0, 1, 2, 0]), "collective_family": np.array([0, 1, 0, 3])},
                labels,
                heldout,
            ),
            resolution_rows(
                "demo",
                "b",
                "f",
                {"individual": np.array([0, 0, 0, 0]), "collective_family": np.array([0, 1, 1, 1])},
                labels,
                heldout,
            ),
        ]
    )
    a = rows.set_index("model").loc["a"]
    assert (a["n_heldout"], a["resolved_reference"], a["resolved"], a["resolved_both"]) == (
        4,
        3,
        3,
        2,
    )
    assert a["overlap"] == pytest.approx(2 / 3)
    summary = overlap_summary(rows).set_index("strategy").loc["collective_family"]
    assert summary["pooled"] == pytest.approx(3 / 4)  # (2 + 1) / (3 + 1)
    assert summary["mean"] == pytest.approx((2 / 3 + 1) / 2)
    assert summary["min"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="'individual'"):
        resolution_rows("demo", "a", "f", {"random": labels}, labels, heldout)


def test_relative_accuracy_by_hand():
    rows = []
    for model, ind, fam, single in [("a", 0.4, 0.3, 0.4), ("b", 0.0, 0.1, 0.0)]:
        for strategy, acc in [
            ("individual", ind),
            ("collective_family", fam),
            ("collective_single", single),
        ]:
            rows += [
                ("demo", model, "f", strategy, "debug_heldout", acc, 10),
                ("demo", model, "f", strategy, "test", 0.9, 100),
            ]
    metrics = pd.DataFrame(rows, columns=COLUMNS)
    rel = relative_accuracy(metrics).set_index(["model", "strategy"])
    assert rel.loc[("a", "collective_family"), "relative"] == pytest.approx(0.75)
    assert rel.loc[("a", "collective_single"), "relative"] == pytest.approx(1.0)
    assert np.isnan(rel.loc[("b", "collective_family"), "relative"])  # individual fixed nothing
    assert relative_accuracy(metrics, split="test")["relative"].tolist() == [1.0] * 4
    with pytest.raises(ValueError, match="collective_family"):
        relative_accuracy(metrics[metrics["strategy"] != "collective_family"])
    with pytest.raises(ValueError, match="'heldout'"):
        relative_accuracy(metrics, split="heldout")
