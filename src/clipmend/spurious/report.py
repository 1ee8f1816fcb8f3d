"""The second paper's report: group metrics of every method, the comparison table, and its figures.

``group_comparison`` scores test predictions (both papers' methods) on (class, attribute)
groups and the coarse (class, common/uncommon) groups; ``write_comparison`` writes
comparison.csv/.md/.tex; the plots are the WGA bar chart, the group accuracy grid and the
δ heat map of the detections. Each PNG is written atomically (Agg backend).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from clipmend.reporting.plots import save_png  # noqa: E402
from clipmend.reporting.tables import write_table  # noqa: E402
from clipmend.spurious import groups  # noqa: E402

log = logging.getLogger(__name__)

#: methods in table order, and the paper each comes from
METHOD_ORDER = {
    "zeroshot": "Yang et al.", "linear_probe": "Yang et al.", "finetune_clip": "Yang et al.",
    "ours_ls": "Yang et al.", "ours_vs": "Yang et al.",
    "original": "Chegini & Feizi", "baseline": "Chegini & Feizi", "random": "Chegini & Feizi",
    "individual": "Chegini & Feizi",
}
COMPARISON_COLUMNS = ["paper", "method", "model", "worst_group_accuracy", "worst_group", "average_accuracy",
                      "adjusted_accuracy", "coarse_worst_group_accuracy", "aiou", "aiou_worst_group"]
LONG_COLUMNS = ["method", "model", "grouping", "class_name", "attribute", "n", "correct", "accuracy"]


def _sort(df: pd.DataFrame) -> pd.DataFrame:
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    key = df["method"].map(order).fillna(len(order))
    return df.assign(_k=key).sort_values(["_k", "model"], kind="stable").drop(columns="_k").reset_index(drop=True)


def group_comparison(predictions: pd.DataFrame, index: pd.DataFrame, class_names: Sequence[str],
                     aiou: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(long group metrics, one comparison row per method and model) on the test split."""
    test = predictions[predictions["split"] == "test"]
    skipped = test.groupby(["method", "model"])["pred"].apply(lambda p: bool((p < 0).all()))
    for method, model in skipped[skipped].index:
        log.info("%s on %s made no predictions (skipped for lack of groups): left out", method, model)
    test = test[~test.set_index(["method", "model"]).index.isin(skipped[skipped].index)]
    has_groups = "attribute" in index and index["attribute"].notna().any()
    long, rows = [], []
    if has_groups:
        train = index[index["split"] == "train"].copy()
        train["attribute"] = train["attribute"].astype(str)
        common = groups.common_attributes(train["label"].to_numpy(), train["attribute"].to_numpy())
        train["coarse"] = groups.coarse_groups(train["label"].to_numpy(), train["attribute"].to_numpy(), common)
        train_labels = train["label"].to_numpy()
        sizes = {g: groups.group_sizes(train_labels, train[g].to_numpy(), class_names) for g in ("attribute", "coarse")}
    for (method, model), frame in test.groupby(["method", "model"], sort=False):
        labels, preds = frame["label"].to_numpy(), frame["pred"].to_numpy()
        row = {"paper": METHOD_ORDER.get(method, ""), "method": method, "model": model,
               "average_accuracy": float((labels == preds).mean())}
        if has_groups:
            attributes = frame["attribute"].astype(str).to_numpy()
            for grouping, values in (("attribute", attributes),
                                     ("coarse", groups.coarse_groups(labels, attributes, common))):
                table = groups.group_accuracy(labels, preds, values, class_names)
                summary = groups.summarize(table, sizes[grouping])
                long.append(table.assign(method=method, model=model, grouping=grouping))
                if grouping == "attribute":
                    row.update(worst_group_accuracy=summary["worst_group_accuracy"],
                               worst_group=summary["worst_group"],
                               adjusted_accuracy=summary["adjusted_accuracy"])
                else:
                    row["coarse_worst_group_accuracy"] = summary["worst_group_accuracy"]
        rows.append(row | _aiou_summary(aiou, method, model, common if has_groups else None))
    long_df = pd.concat(long, ignore_index=True).reindex(columns=LONG_COLUMNS) if long \
        else pd.DataFrame(columns=LONG_COLUMNS)
    comparison = pd.DataFrame(rows).reindex(columns=COMPARISON_COLUMNS)
    return long_df, _sort(comparison) if len(comparison) else comparison


def _aiou_summary(aiou: pd.DataFrame | None, method: str, model: str,
                  common: Mapping[int, set] | None) -> dict[str, float]:
    """Mean AIoU of a method, and its lowest mean over the coarse (class, common/uncommon) groups.

    The paper's "worst-group" AIoU is over Waterbirds' 4 groups, which are the coarse ones;
    without recorded attributes, over classes.
    """
    if aiou is None or not len(aiou):
        return {}
    rows = aiou[(aiou["method"] == method) & (aiou["model"] == model)]
    if not len(rows):
        return {}
    keys = [rows["label"].to_numpy()]
    if common is not None and "attribute" in rows and rows["attribute"].notna().all():
        keys.append(groups.coarse_groups(rows["label"].to_numpy(), rows["attribute"].astype(str).to_numpy(), common))
    return {"aiou": float(rows["aiou"].mean()), "aiou_worst_group": float(rows["aiou"].groupby(keys).mean().min())}


def write_comparison(comparison: pd.DataFrame, stem: str | Path) -> list[Path]:
    """comparison.csv, .md and .tex."""
    return write_table(comparison, stem, precision=4,
                       caption="Both papers' methods on the same test groups (worst-group, average, "
                               "adjusted accuracy, AIoU)")


def _empty(path: str | Path, text: str) -> None:
    fig, ax = plt.subplots(figsize=(4, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center")
    save_png(fig, path)


def plot_wga(comparison: pd.DataFrame, path: str | Path) -> None:
    """Bars of worst-group, adjusted and average accuracy per method (and model)."""
    if not len(comparison) or comparison["worst_group_accuracy"].isna().all():
        _empty(path, "no groups: no worst-group accuracy")
        return
    labels = [f"{m}\n{model}" for m, model in zip(comparison["method"], comparison["model"])]
    metrics = [("worst_group_accuracy", "worst group (class × attribute)"),
               ("coarse_worst_group_accuracy", "worst group (class × common/uncommon)"),
               ("adjusted_accuracy", "adjusted"), ("average_accuracy", "average")]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(labels) + 2), 4))
    for i, (col, name) in enumerate(metrics):
        ax.bar(x + (i - 1.5) * 0.2, comparison[col].astype(float), width=0.2, label=name)
    ax.set_xticks(x, labels, rotation=90, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("test accuracy")
    ax.set_title("Worst-group accuracy per method (both papers, same test groups)")
    ax.legend(fontsize=8)
    save_png(fig, path)


def plot_group_grid(long: pd.DataFrame, path: str | Path) -> None:
    """Accuracy of every (class, attribute) group (columns) for every method and model (rows)."""
    fine = long[long["grouping"] == "attribute"]
    if not len(fine):
        _empty(path, "no groups")
        return
    grid = fine.assign(row=fine["method"] + " / " + fine["model"],
                       col=fine["class_name"] + " | " + fine["attribute"].astype(str))
    grid = grid.pivot_table(index="row", columns="col", values="accuracy", sort=False)
    fig, ax = plt.subplots(figsize=(max(6, 0.18 * grid.shape[1] + 3), max(3, 0.3 * grid.shape[0] + 1.5)))
    image = ax.imshow(grid.to_numpy(dtype=float), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_yticks(range(grid.shape[0]), grid.index, fontsize=7)
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=90, fontsize=5)
    ax.set_title("Test accuracy per group (class | attribute)")
    fig.colorbar(image, ax=ax, fraction=0.03)
    save_png(fig, path)


def plot_delta_heatmap(detections: pd.DataFrame, path: str | Path) -> None:
    """δ (accuracy with minus without the attribute) per class and attribute, one panel per source."""
    if not len(detections):
        _empty(path, "no detections")
        return
    sources = list(dict.fromkeys(detections["source"]))
    classes = list(dict.fromkeys(detections["class_name"]))
    attributes = sorted(detections["attribute"].astype(str).unique())
    fig, axes = plt.subplots(1, len(sources), figsize=(max(4, 0.35 * len(attributes) + 2) * len(sources),
                                                        max(3, 0.3 * len(classes) + 1.5)), squeeze=False)
    for ax, source in zip(axes[0], sources):
        rows = detections[detections["source"] == source]
        grid = rows.pivot_table(index="class_name", columns="attribute", values="delta")
        grid = grid.reindex(index=classes, columns=attributes)
        image = ax.imshow(grid.to_numpy(dtype=float), vmin=-1, vmax=1, cmap="RdBu_r", aspect="auto")
        ax.set_xticks(range(len(attributes)), attributes, rotation=90, fontsize=7)
        ax.set_yticks(range(len(classes)), classes if ax is axes[0][0] else [""] * len(classes), fontsize=7)
        ax.set_title(source, fontsize=9)
    fig.suptitle("δ = acc(attribute present) − acc(absent), top attributes per class")
    fig.colorbar(image, ax=axes[0].tolist(), fraction=0.03)
    save_png(fig, path)
