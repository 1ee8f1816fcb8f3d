"""The second paper's comparison: both papers' predictions scored on the same test groups."""

import numpy as np
import pandas as pd
import pytest

from clipmend.spurious.report import (
    SEED_COLUMNS,
    group_comparison,
    plot_delta_heatmap,
    plot_group_grid,
    plot_intervals,
    seed_comparison,
)

CLASSES = ["landbird", "waterbird"]


def index() -> pd.DataFrame:
    """Train: landbirds mostly on land (8 vs 2), waterbirds mostly on water (6 vs 2); 8 test images."""
    rows = [("train", 0, "land")] * 8 + [("train", 0, "water")] * 2 + [("train", 1, "water")] * 6
    rows += [("train", 1, "land")] * 2
    rows += [("test", 0, "land"), ("test", 0, "land"), ("test", 0, "water"), ("test", 0, "water"),
             ("test", 1, "water"), ("test", 1, "water"), ("test", 1, "land"), ("test", 1, "land")]
    frame = pd.DataFrame(rows, columns=["split", "label", "attribute"])
    frame["id"] = [f"i{i}" for i in range(len(frame))]
    frame["class_name"] = [CLASSES[label] for label in frame["label"]]
    return frame


def predictions(method: str, model: str, pred: list[int]) -> pd.DataFrame:
    test = index()[lambda f: f["split"] == "test"]
    return pd.DataFrame({"method": method, "model": model, "id": test["id"], "split": "test",
                         "label": test["label"], "attribute": test["attribute"], "pred": pred})


def test_worst_group_average_and_adjusted_accuracy_by_hand():
    # shortcut model: right on the common place only; robust model: one mistake on waterbird/land
    shortcut = predictions("zeroshot", "clip", [0, 0, 1, 1, 1, 1, 0, 0])
    robust = predictions("individual", "resnet", [0, 0, 0, 0, 1, 1, 1, 0])
    long, table = group_comparison(pd.concat([shortcut, robust]), index(), CLASSES)
    rows = table.set_index("method")
    assert list(table["method"]) == ["zeroshot", "individual"]  # this paper's methods first
    assert rows.loc["zeroshot", "worst_group_accuracy"] == 0.0
    assert rows.loc["zeroshot", "average_accuracy"] == 0.5
    # train sizes weigh group accuracies: (8 * 1 + 2 * 0 + 6 * 1 + 2 * 0) / 18
    assert rows.loc["zeroshot", "adjusted_accuracy"] == pytest.approx(14 / 18)
    assert rows.loc["individual", "worst_group_accuracy"] == 0.5
    assert rows.loc["individual", "worst_group"] == "waterbird / land"
    assert rows.loc["individual", "adjusted_accuracy"] == pytest.approx((8 + 2 + 6 + 2 * 0.5) / 18)
    assert rows.loc["individual", "paper"] == "Chegini & Feizi"
    coarse = long[(long["grouping"] == "coarse") & (long["method"] == "zeroshot")]
    assert dict(zip(zip(coarse["class_name"], coarse["attribute"]), coarse["accuracy"])) == {
        ("landbird", "common"): 1.0, ("landbird", "uncommon"): 0.0,
        ("waterbird", "common"): 1.0, ("waterbird", "uncommon"): 0.0}
    assert rows.loc["zeroshot", "coarse_worst_group_accuracy"] == 0.0


def test_aiou_joins_its_method_and_a_skipped_method_is_left_out():
    aiou = pd.DataFrame({"method": "zeroshot", "model": "clip", "label": [0, 0, 0, 1],
                         "attribute": ["land", "water", "water", "water"], "aiou": [0.6, 0.4, 0.2, 0.9]})
    skipped = predictions("ours_vs", "clip", [-1] * 8)
    _, table = group_comparison(pd.concat([predictions("zeroshot", "clip", [0] * 8), skipped]), index(), CLASSES,
                                aiou)
    assert list(table["method"]) == ["zeroshot"]
    assert table["aiou"].iloc[0] == pytest.approx(0.525)
    # worst over the coarse groups: landbird on water (uncommon) averages 0.3
    assert table["aiou_worst_group"].iloc[0] == pytest.approx(0.3)


def test_without_attributes_only_the_average_is_reported(tmp_path):
    bare = index().drop(columns="attribute")
    long, table = group_comparison(predictions("zeroshot", "clip", [0] * 8), bare, CLASSES)
    assert long.empty and table["average_accuracy"].iloc[0] == 0.5
    assert np.isnan(table["worst_group_accuracy"].iloc[0])
    seeds, paired = seed_comparison(predictions("zeroshot", "clip", [0] * 8).assign(seed=0), bare)
    assert seeds.empty and paired.empty and list(seeds.columns) == SEED_COLUMNS
    plot_intervals(seeds, tmp_path / "wga.png")
    plot_group_grid(long, tmp_path / "groups.png")
    plot_delta_heatmap(pd.DataFrame(columns=["source", "class_name", "attribute", "delta"]), tmp_path / "d.png")
    assert all((tmp_path / n).stat().st_size > 0 for n in ("wga.png", "groups.png", "d.png"))
