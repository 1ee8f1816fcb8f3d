"""The debug set's failures and the split of the debug set into debug_seed and debug_heldout.

Failures are the mistakes of a linear head on the model's features: the model's own
classifier (decided on its float32 logits, computed while features are extracted), or,
for a model without one over the data set's classes (self-supervised backbones, CLIP,
an ImageNet model on CIFAR), a baseline head trained on the train split (the paper's
30 images per class on ImageNet) with Table 4's optimiser.

The split is of the whole debug set, by image id, once per data set: an image is
debug_seed or debug_heldout for every model alike, so no model's heldout image is
another model's seed (collective debugging pools seed failures across models).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from clipmend.debugging.heads import HeadParams, predict, train_heads

PARTS = ("debug_seed", "debug_heldout")
HEAD_MODES = ("auto", "own", "train")  # own if the model has one | always own | always trained


def failure_predictions(meta: pd.DataFrame, features: np.ndarray, weight: np.ndarray,
                        bias: np.ndarray, source: str) -> np.ndarray:
    """The predictions that decide failures: the model's own float32 ones (``pred``, recorded
    at extraction) for its own head, else the head applied to the stored features."""
    if source == "own" and "pred" in meta:
        return meta["pred"].to_numpy()
    return predict(features, weight, bias)


def _rank_key(seed: int, image_id: str) -> str:
    return hashlib.sha256(f"{seed}:{image_id}".encode()).hexdigest()


def split_parts(ids: pd.Series, labels: pd.Series, seed: int) -> pd.Series:
    """Assign each debug image to debug_seed or debug_heldout: a seeded 50/50 split per class.

    An image's side depends only on the seed and the ids of its class's images, never
    on row order or on any model, so every model and every re-run sees the same split.
    """
    frame = pd.DataFrame({"id": ids.values, "label": labels.values})
    frame["key"] = [_rank_key(seed, i) for i in frame["id"]]
    frame["rank"] = frame.groupby("label")["key"].rank(method="first") - 1
    sizes = frame.groupby("label")["id"].transform("size")
    part = np.where(frame["rank"] < np.ceil(sizes / 2), PARTS[0], PARTS[1])
    return pd.Series(part, index=ids.index, name="part")


def collect_failures(debug: pd.DataFrame, pred: np.ndarray, seed: int) -> pd.DataFrame:
    """The debug-set images predicted wrongly: id, label, pred, part.

    ``debug`` holds every debug image (``id``, ``label``), ``pred`` the head's class for
    each; the part comes from the split of the whole debug set (``split_parts``).
    """
    pred = np.asarray(pred)
    if len(pred) != len(debug):
        raise ValueError(f"{len(pred)} predictions for {len(debug)} debug images")
    parts = split_parts(debug["id"], debug["label"], seed)
    wrong = pred != debug["label"].to_numpy()
    failures = debug.loc[wrong, ["id", "label"]].copy()
    failures["pred"] = pred[wrong]
    failures["part"] = parts[wrong]
    return failures.sort_values("id").reset_index(drop=True)


def failure_head(mode: str, own: tuple[np.ndarray, np.ndarray] | None, train_features: np.ndarray,
                 train_labels: np.ndarray, num_classes: int,
                 params: HeadParams, device: str = "cpu",
                 memory_bytes: int | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """The head whose mistakes are the failures, as ``(weight, bias, "own" | "train")``.

    A trained head is fitted on ``device`` within ``memory_bytes`` (see ``train_heads``).
    """
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
    head = train_heads(train_features, train_labels, [empty], [0.0], num_classes, params,
                       device=device, memory_bytes=memory_bytes)[0]
    return head.weight, head.bias, "train"
