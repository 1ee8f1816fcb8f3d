"""The debug set's failures and their stable split into debug_seed and debug_heldout."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

PARTS = ("debug_seed", "debug_heldout")


def predict(features: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Arg-max class of a linear head on features."""
    return np.argmax(features @ weight.T + bias, axis=1)


def _rank_key(seed: int, image_id: str) -> str:
    return hashlib.sha256(f"{seed}:{image_id}".encode()).hexdigest()


def split_parts(ids: pd.Series, labels: pd.Series, seed: int) -> pd.Series:
    """Assign each failure to debug_seed or debug_heldout: a seeded 50/50 split per class.

    An image's side depends only on the seed and the ids of its class's failures, never
    on row order, so re-running gives the same split.
    """
    frame = pd.DataFrame({"id": ids.values, "label": labels.values})
    frame["key"] = [_rank_key(seed, i) for i in frame["id"]]
    frame["rank"] = frame.groupby("label")["key"].rank(method="first") - 1
    sizes = frame.groupby("label")["id"].transform("size")
    part = np.where(frame["rank"] < np.ceil(sizes / 2), PARTS[0], PARTS[1])
    return pd.Series(part, index=ids.index, name="part")


def collect_failures(meta: pd.DataFrame, features: np.ndarray, weight: np.ndarray,
                     bias: np.ndarray, seed: int) -> pd.DataFrame:
    """The debug-set images the head gets wrong: id, label, pred, part."""
    pred = predict(features, weight, bias)
    wrong = pred != meta["label"].to_numpy()
    failures = meta.loc[wrong, ["id", "label"]].copy()
    failures["pred"] = pred[wrong]
    failures["part"] = split_parts(failures["id"], failures["label"], seed)
    return failures.sort_values("id").reset_index(drop=True)
