"""Group metrics over (class × attribute value) groups: worst-group, average and adjusted accuracy.

A group is a class and an attribute value (Waterbirds: bird type × place; the demo: object ×
background). The coarse grouping replaces the value by whether it is common for the class in
the train split. "Adjusted" accuracy weights each group's accuracy by its train size (Sagawa
et al., 2019), the "average" the paper reports on Waterbirds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

GROUP_COLUMNS = ["class_name", "attribute", "n", "correct", "accuracy"]


def _check_lengths(**arrays: np.ndarray) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"arrays of different lengths: {lengths}")


def group_accuracy(labels: np.ndarray, preds: np.ndarray, attributes: np.ndarray,
                   class_names: Sequence[str]) -> pd.DataFrame:
    """One row per non-empty (class, attribute) group: class_name, attribute, n, correct, accuracy."""
    labels, preds, attributes = np.asarray(labels), np.asarray(preds), np.asarray(attributes)
    _check_lengths(labels=labels, preds=preds, attributes=attributes)
    if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise ValueError(f"labels range over [{labels.min()}, {labels.max()}] but there are "
                         f"{len(class_names)} class names")
    frame = pd.DataFrame({"label": labels, "attribute": attributes, "correct": preds == labels})
    table = (frame.groupby(["label", "attribute"], sort=True)["correct"]
             .agg(n="size", correct="sum").reset_index())
    table["class_name"] = [class_names[i] for i in table["label"]]
    table["correct"] = table["correct"].astype(int)
    table["accuracy"] = table["correct"] / table["n"]
    return table[GROUP_COLUMNS]


def group_sizes(labels: np.ndarray, attributes: np.ndarray, class_names: Sequence[str]) -> dict[tuple, int]:
    """Number of images per (class_name, attribute) group, e.g. of the train split."""
    table = group_accuracy(labels, labels, attributes, class_names)
    return {(c, a): int(n) for c, a, n in zip(table["class_name"], table["attribute"], table["n"], strict=True)}


def common_attributes(train_labels: np.ndarray, train_attributes: np.ndarray) -> dict[int, set]:
    """Per class, the attribute values whose share of its train images exceeds 1 / (values the class appears with).

    Counting the class's own values keeps a one-attribute-per-class world right: a class seen
    with its attribute (90%) or without it (10%) has one common value, whatever the others'.
    """
    train_labels, train_attributes = np.asarray(train_labels), np.asarray(train_attributes)
    _check_lengths(train_labels=train_labels, train_attributes=train_attributes)
    shares = pd.crosstab(train_labels, train_attributes, normalize="index")
    common = {}
    for label, row in shares.iterrows():
        seen = int((row > 0).sum())  # a class seen with one value only: that value is common
        common[int(label)] = {value for value, share in row.items() if share > 1.0 / seen or (seen == 1 and share > 0)}
    return common


def coarse_groups(labels: np.ndarray, attributes: np.ndarray, common: Mapping[int, set]) -> np.ndarray:
    """"common" where the image's attribute is common for its class, else "uncommon"."""
    labels, attributes = np.asarray(labels), np.asarray(attributes)
    _check_lengths(labels=labels, attributes=attributes)
    is_common = [a in common.get(int(y), ()) for y, a in zip(labels, attributes, strict=True)]
    return np.where(is_common, "common", "uncommon")


def summarize(group_table: pd.DataFrame, train_sizes: Mapping[tuple, int]) -> dict:
    """worst_group_accuracy, worst_group, average_accuracy (over images) and adjusted_accuracy.

    Adjusted: group accuracies weighted by their train sizes ``{(class_name, attribute): n}``;
    groups absent from train weigh 0. Ties for the worst group go to the first row.
    """
    if group_table.empty:
        raise ValueError("summarize: the group table has no rows (no evaluated images)")
    keys = list(zip(group_table["class_name"], group_table["attribute"], strict=True))
    weights = np.array([train_sizes.get(k, 0) for k in keys], dtype=float)
    if weights.sum() <= 0:
        raise ValueError(f"summarize: no evaluated group has train images; evaluated {keys[:5]}, "
                         f"train groups {list(train_sizes)[:5]}")
    acc = group_table["accuracy"].to_numpy(dtype=float)
    worst = int(np.argmin(acc))
    return {
        "worst_group_accuracy": float(acc[worst]),
        "worst_group": f"{keys[worst][0]} / {keys[worst][1]}",
        "average_accuracy": float(group_table["correct"].sum() / group_table["n"].sum()),
        "adjusted_accuracy": float(weights @ acc / weights.sum()),
    }
