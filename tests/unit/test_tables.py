import numpy as np
import pandas as pd
import pytest

from clipmend.evaluation.metrics import COLUMNS
from clipmend.reporting.tables import (
    experiments_table,
    strategy_params,
    table_backgrounds,
    table_collective,
    table_individual,
    write_table,
)

# Rows of the paper's Table 2 and Table 3 (before; test, seed, heldout per strategy).
PAPER = {
    ("ResNet", "resnet18"): {
        "original": 0.6236,
        "individual": (0.6413, 0.2636, 0.2128),
        "random": (0.6242, 0.1134, 0.1129),
        "collective_family": (0.6364, 0.2291, 0.2078),
        "collective_single": (0.6413, 0.2636, 0.2128),
    },
    ("DINO", "ViTs_8"): {
        "original": 0.6977,
        "individual": (0.7008, 0.3117, 0.2494),
        "random": (0.6979, 0.1134, 0.1129),
        "collective_family": (0.70001, 0.2729, 0.2488),
        "collective_single": (0.70008, 0.3117, 0.2494),
    },
    ("ResNet", "resnet26"): {
        "original": 0.6593,
        "individual": (0.6671, 0.2856, 0.228),
        "random": (0.6604, 0.09539, 0.0904),
        "collective_family": (0.6655, 0.2396, 0.2192),
        "collective_single": (0.6669, 0.2185, 0.1853),
    },
}


def paper_metrics(dataset: str = "imagenet") -> pd.DataFrame:
    """Long metrics holding the paper's numbers (models interleaved across families on purpose)."""
    rows = []
    for (family, model), values in PAPER.items():
        rows += [
            (dataset, model, family, "original", "test", values["original"], 100),
            (dataset, model, family, "original", "debug_seed", 0.0, 10),
            (dataset, model, family, "original", "debug_heldout", 0.0, 10),
            (dataset, model, family, "baseline", "test", values["original"] - 0.01, 100),
        ]
        for strategy in ("individual", "random", "collective_family", "collective_single"):
            for split, acc in zip(("test", "debug_seed", "debug_heldout"), values[strategy]):
                rows.append((dataset, model, family, strategy, split, acc, 10))
    return pd.DataFrame(rows, columns=COLUMNS)


def test_table_2_has_the_paper_structure_and_numbers():
    table = table_individual(paper_metrics())
    assert list(table.columns) == [
        ("Accuracy before debugging", "Test"),
        ("Accuracy of Individual Debugging (ours)", "Test"),
        ("Accuracy of Individual Debugging (ours)", "seed"),
        ("Accuracy of Individual Debugging (ours)", "heldout"),
        ("Accuracy of Random debugging", "Test"),
        ("Accuracy of Random debugging", "seed"),
        ("Accuracy of Random debugging", "heldout"),
    ]
    assert table.index.names == ["Model category", "Model name"]
    assert list(table.index) == [("ResNet", "resnet18"), ("ResNet", "resnet26"), ("DINO", "ViTs_8")]
    assert table.loc[("ResNet", "resnet26")].tolist() == [
        0.6593,
        0.6671,
        0.2856,
        0.228,
        0.6604,
        0.09539,
        0.0904,
    ]


def test_table_3_has_both_collective_types():
    table = table_collective(paper_metrics())
    assert [c[0] for c in table.columns[1:]] == (
        ["Accuracy of Collective Debugging-type 1 (ours)"] * 3
        + ["Accuracy of Collective Debugging-type 2 (ours)"] * 3
    )
    assert [c[1] for c in table.columns] == [
        "Test",
        "Test",
        "seed",
        "heldout",
        "Test",
        "seed",
        "heldout",
    ]
    assert table.loc[("DINO", "ViTs_8")].tolist() == [
        0.6977,
        0.70001,
        0.2729,
        0.2488,
        0.70008,
        0.3117,
        0.2494,
    ]


def test_before_falls_back_to_the_retrained_head_and_missing_cells_are_nan():
    metrics = paper_metrics()
    metrics = metrics[~((metrics["model"] == "resnet18") & (metrics["strategy"] == "original"))]
    metrics = metrics[~((metrics["model"] == "resnet26") & (metrics["strategy"] == "random"))]
    table = table_individual(metrics)
    assert table.loc[
        ("ResNet", "resnet18"), ("Accuracy before debugging", "Test")
    ] == pytest.approx(0.6136)
    assert np.isnan(table.loc[("ResNet", "resnet26"), ("Accuracy of Random debugging", "Test")])


def test_tables_refuse_ambiguous_or_incomplete_metrics():
    metrics = paper_metrics()
    with pytest.raises(ValueError, match="'imagenet', 'other'"):
        table_individual(pd.concat([metrics, paper_metrics("other")]))
    with pytest.raises(ValueError, match="collective_family"):
        table_collective(metrics[metrics["strategy"] != "collective_family"])
    with pytest.raises(ValueError, match="repeat"):
        table_individual(pd.concat([metrics, metrics.head(1)]))


def test_write_table_writes_csv_markdown_and_latex_with_the_numbers(tmp_path):
    paths = write_table(
        table_individual(paper_metrics()), tmp_path / "paper" / "table2", caption="Table 2"
    )
    assert [p.name for p in paths] == ["table2.csv", "table2.md", "table2.tex"]
    csv = pd.read_csv(paths[0])
    assert list(csv.columns[:4]) == [
        "Model category",
        "Model name",
        "Accuracy before debugging: Test",
        "Accuracy of Individual Debugging (ours): Test",
    ]
    assert (
        csv.loc[csv["Model name"] == "resnet18", "Accuracy of Random debugging: seed"].item()
        == 0.1134
    )
    md = paths[1].read_text().splitlines()
    assert md[0].startswith("| Model category | Model name | Accuracy before debugging: Test |")
    assert md[1].startswith("|:---|:---|---:|")
    assert (
        md[2]
        == "| ResNet | resnet18 | 0.6236 | 0.6413 | 0.2636 | 0.2128 | 0.6242 | 0.1134 | 0.1129 |"
    )
    assert md[3].startswith("|  | resnet26 | 0.6593 |")  # the category is shown once per group
    assert md[4].startswith("| DINO | ViTs_8 | 0.6977 |")
    tex = paths[2].read_text()
    assert r"\multicolumn{3}{c}{Accuracy of Individual Debugging (ours)}" in tex
    assert r"\multirow[t]{2}{*}{ResNet}" in tex
    assert r"ViTs\_8" in tex  # escaped for LaTeX
    assert "0.0954" in tex and "0.2128" in tex
    assert r"\caption{Table 2}" in tex and r"\toprule" in tex
    assert not list(tmp_path.glob("paper/.*.tmp"))


def test_experiments_table_has_a_row_per_model_and_strategy_with_its_parameters(tmp_path):
    config = {
        "head": {"lambda": 0.5, "epochs": 300, "lr": 0.2},
        "generator": {"k": 5, "images_per_background": 20, "backend": "copypaste"},
    }
    table = experiments_table(paper_metrics(), strategy_params(config))
    assert len(table) == 3 * 6
    assert list(table.columns) == [
        "dataset",
        "model",
        "family",
        "strategy",
        "test",
        "debug_seed",
        "debug_heldout",
        "lambda",
        "k",
        "images_per_background",
        "generator",
        "epochs",
        "lr",
    ]
    assert table["model"].tolist()[::6] == ["resnet18", "resnet26", "ViTs_8"]
    assert table["strategy"].tolist()[:6] == [
        "original",
        "baseline",
        "random",
        "individual",
        "collective_family",
        "collective_single",
    ]
    row = table.set_index(["model", "strategy"])
    assert row.loc[("resnet18", "baseline"), "lambda"] == 0.0
    assert row.loc[("resnet18", "individual"), ["lambda", "k", "generator"]].tolist() == [
        0.5,
        5,
        "copypaste",
    ]
    assert row.loc[("resnet18", "original"), "lambda"] is None
    assert row.loc[("resnet26", "random"), "debug_seed"] == 0.09539
    md = write_table(table, tmp_path / "experiments")[1].read_text()
    assert (
        "| imagenet | resnet18 | ResNet | individual | 0.6413 | 0.2636 | 0.2128 "
        "| 0.5 | 5 | 20 | copypaste |" in md
    )


def test_table_1_lists_the_backgrounds_per_class():
    backgrounds = {
        "prompt": "p",
        "classes": {
            "sea lion": {"backgrounds": ["Desert", "Caves", "Grasslands"]},
            "croquet ball": {"backgrounds": ["Busy Streets"]},
        },
    }
    table = table_backgrounds(backgrounds, limit=2)
    assert table.index.name == "Class name"
    assert table["Uncommon backgrounds"].tolist() == ["Desert, Caves", "Busy Streets"]
    assert table_backgrounds(backgrounds, classes=["croquet ball"]).index.tolist() == [
        "croquet ball"
    ]
    with pytest.raises(ValueError, match="'tench'"):
        table_backgrounds(backgrounds, classes=["tench"])
    with pytest.raises(ValueError, match="'classes' key"):
        table_backgrounds(backgrounds["classes"])
