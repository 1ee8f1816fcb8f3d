import numpy as np
import pandas as pd
import pytest
from PIL import Image

from clipmend.debugging.collective import Source, matrix_rows, relative_accuracy, resolution_rows
from clipmend.debugging.sweeps import SWEEP_COLUMNS
from clipmend.evaluation.iou import failure_iou
from clipmend.reporting.plots import (
    failure_titles,
    matrix_table,
    pick_gallery,
    plot_collective_matrix,
    plot_failure_gallery,
    plot_generated_grid,
    plot_iou_heatmap,
    plot_k_sweep,
    plot_lambda_sweep,
    plot_relative_accuracy,
)
from tests.unit.test_tables import paper_metrics

FAMILIES = {"r18": "resnet", "vit_s": "dino", "r50": "resnet", "vit_b": "dino", "clip_b": "clip"}


def check_png(path, min_size):
    """The file is a PNG of at least ``min_size`` pixels that is not blank."""
    assert path.exists() and path.stat().st_size > 5000
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width >= min_size[0] and image.height >= min_size[1]
        assert np.asarray(image.convert("L")).std() > 10
    assert not list(path.parent.glob(".*.tmp"))


def test_iou_heatmap(tmp_path):
    rng = np.random.default_rng(0)
    failures = {m: set(rng.choice(100, 40, replace=False).astype(str)) for m in FAMILIES}
    iou = failure_iou(failures, list(FAMILIES))
    check_png(plot_iou_heatmap(iou, FAMILIES, tmp_path / "iou.png"), (500, 500))


def collective_matrix():
    """A matrix over the five models' individual sets and the three family pools."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 60)
    sets = {
        "test": np.arange(40),
        "debug_seed": np.arange(40, 50),
        "debug_heldout": np.arange(50, 60),
    }
    sources = [Source(m, "model", f) for m, f in FAMILIES.items()] + [
        Source(f, "family", f) for f in dict.fromkeys(FAMILIES.values())
    ]
    return pd.concat(
        [
            matrix_rows(
                "demo",
                target,
                family,
                {s: np.where(rng.random(60) < 0.6, labels, (labels + 1) % 3) for s in sources},
                labels,
                sets,
            )
            for target, family in FAMILIES.items()
        ]
    )


def test_collective_matrix(tmp_path):
    matrix = collective_matrix()
    table = matrix_table(matrix, "debug_heldout")
    assert list(table.index) == ["r18", "r50", "vit_s", "vit_b", "clip_b"]
    assert list(table.columns) == [
        "r18",
        "r50",
        "vit_s",
        "vit_b",
        "clip_b",
        "resnet (pooled)",
        "dino (pooled)",
        "clip (pooled)",
    ]
    check_png(plot_collective_matrix(matrix, tmp_path / "matrix.png"), (900, 350))
    with pytest.raises(ValueError, match="'heldout'"):
        matrix_table(matrix, "heldout")


def sweep(param, values):
    rows = []
    for i, (model, family) in enumerate(FAMILIES.items()):
        for v in values:
            rows += [
                ("demo", model, family, param, v, "test", 0.8 - 0.02 * v - 0.01 * i, 100),
                (
                    "demo",
                    model,
                    family,
                    param,
                    v,
                    "debug_heldout",
                    0.1 + 0.1 * np.sqrt(v) + 0.01 * i,
                    20,
                ),
            ]
    return pd.DataFrame(rows, columns=SWEEP_COLUMNS)


def test_lambda_and_k_sweeps(tmp_path):
    lam = sweep("lambda", [0, 0.1, 0.2, 0.5, 1.0, 2.0])
    check_png(plot_lambda_sweep(lam, tmp_path / "lambda.png", mark=0.5), (900, 500))
    check_png(plot_k_sweep(sweep("k", [1, 2, 3, 4, 5]), tmp_path / "k.png", mark=3), (900, 500))
    with pytest.raises(ValueError, match="'k'"):
        plot_k_sweep(lam, tmp_path / "none.png")


def test_relative_accuracy(tmp_path):
    metrics = paper_metrics()
    relative = relative_accuracy(metrics)
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 5, 50)
    resolution = pd.concat(
        [
            resolution_rows(
                "imagenet",
                model,
                family,
                {
                    s: np.where(rng.random(50) < p, labels, (labels + 1) % 5)
                    for s, p in [
                        ("individual", 0.3),
                        ("collective_family", 0.25),
                        ("collective_single", 0.2),
                    ]
                },
                labels,
                np.arange(50),
            )
            for family, model in {(f, m) for f, m in zip(metrics["family"], metrics["model"])}
        ]
    )
    check_png(plot_relative_accuracy(relative, tmp_path / "relative.png", resolution), (900, 350))
    check_png(plot_relative_accuracy(relative, tmp_path / "relative_only.png"), (450, 350))


def test_failure_gallery_and_generated_grid(tmp_path):
    classes = ["t-shirt", "trouser", "bag"]
    assignments = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "label": [0, 0, 1, 2, 2],
            "pred": [1, 2, 0, 0, 1],
            "part": ["debug_seed", "debug_seed", "debug_seed", "debug_heldout", "debug_seed"],
            "background": ["on lava", "in snow", "underwater", "at night", None],
            "score": [0.4, 0.9, 0.7, 0.99, np.nan],
        }
    )
    picked = pick_gallery(assignments, n=5)
    assert picked["id"].tolist() == ["b", "c"]  # best per class; heldout and unassigned left out
    titles = failure_titles(picked, classes)
    assert titles[0] == "true: t-shirt\npred: bag\nbg: in snow"
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in titles]
    check_png(plot_failure_gallery(images, titles, tmp_path / "gallery.png"), (250, 200))
    with pytest.raises(ValueError, match="2 images but 1 titles"):
        plot_failure_gallery(images, titles[:1], tmp_path / "bad.png")

    rows = []
    for label, name, backgrounds in [
        (0, "t-shirt", ["on lava", "in snow", "at night"]),
        (2, "bag", ["underwater"]),
    ]:
        for bg in backgrounds:
            for i in range(2):
                path = tmp_path / "store" / f"{label}-{bg}-{i}.png"
                path.parent.mkdir(exist_ok=True)
                Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(path)
                rows.append(
                    {
                        "id": path.stem,
                        "image": str(path),
                        "class_name": name,
                        "label": label,
                        "background": bg,
                    }
                )
    manifest = pd.DataFrame(rows)
    check_png(plot_generated_grid(manifest, tmp_path / "generated.png"), (400, 300))
    with pytest.raises(ValueError, match="'trouser'"):
        plot_generated_grid(manifest, tmp_path / "bad.png", classes=["trouser"])
