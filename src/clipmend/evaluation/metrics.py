"""Accuracy tables in long format: dataset, model, family, strategy, split, accuracy, n."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

COLUMNS = ["dataset", "model", "family", "strategy", "split", "accuracy", "n"]
SPLITS = ("test", "debug_seed", "debug_heldout")


def accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    """Share of correct predictions (NaN for an empty set)."""
    return float(np.mean(pred == labels)) if len(labels) else float("nan")


def evaluation_sets(meta: pd.DataFrame, failures: pd.DataFrame) -> dict[str, np.ndarray]:
    """Row positions (into ``meta``) of the test split, debug_seed and debug_heldout."""
    pos = pd.Series(np.arange(len(meta)), index=meta["id"].to_numpy())
    sets = {"test": np.flatnonzero(meta["split"].to_numpy() == "test")}
    for part in SPLITS[1:]:
        ids = failures.loc[failures["part"] == part, "id"]
        sets[part] = pos.loc[ids].to_numpy()
    return sets


def metric_rows(dataset: str, model: str, family: str,
                predictions: Mapping[str, np.ndarray], labels: np.ndarray,
                sets: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """One row per (strategy, split) from per-strategy predictions over all rows of ``meta``."""
    rows = []
    for strategy, pred in predictions.items():
        for split in SPLITS:
            idx = sets[split]
            rows.append((dataset, model, family, strategy, split, accuracy(pred[idx], labels[idx]), len(idx)))
    return pd.DataFrame(rows, columns=COLUMNS)


def summarise(metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy per dataset, strategy and split, averaged over models."""
    return (metrics.groupby(["dataset", "strategy", "split"], sort=False)["accuracy"]
            .mean().unstack("split").reindex(columns=list(SPLITS)).reset_index())
