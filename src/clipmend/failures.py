"""The debug set's failures and their stable split into debug_seed and debug_heldout.

Failures are the mistakes of a linear head on the model's features: the model's own
classifier, or, for a model without one over the data set's classes (self-supervised
backbones, CLIP, an ImageNet model on CIFAR), a baseline head trained on the train
split (the paper's 30 images per class on ImageNet) with Table 4's optimiser.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from clipmend.heads import HeadParams, train_heads

PARTS = ("debug_seed", "debug_heldout")
HEAD_MODES = ("auto", "own", "train")  # own if the model has one | always own | always trained


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


def failure_head(mode: str, own: tuple[np.ndarray, np.ndarray] | None, train_features: np.ndarray,
                 train_labels: np.ndarray, num_classes: int,
                 params: HeadParams) -> tuple[np.ndarray, np.ndarray, str]:
    """The head whose mistakes are the failures, as ``(weight, bias, "own" | "train")``."""
    if mode not in HEAD_MODES:
        raise ValueError(f"failures.head is {mode!r}; valid: {list(HEAD_MODES)}")
    if mode == "own" and own is None:
        raise ValueError("failures.head is 'own' but the model has no classifier over the data "
                         "set's classes; use 'auto' or 'train' to fit a baseline head on the "
                         "train split")
    if own is not None and mode != "train":
        return own[0], own[1], "own"
    if len(train_labels) == 0:
        raise ValueError("a baseline head needs train-split features, and the data set has none")
    empty = (train_features[:0], train_labels[:0])
    head = train_heads(train_features, train_labels, [empty], [0.0], num_classes, params)[0]
    return head.weight, head.bias, "train"
