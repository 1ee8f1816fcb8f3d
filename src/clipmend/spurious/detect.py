"""Spurious-attribute detection by accuracy discrepancy (Yang et al., 2023, §4).

Per class c and attribute s: δ = acc(c | s present) − acc(c | s absent) and the mutual
information between "s present" and "error" among the images of c. As the released code
(``tools/detect_spurious_imagenet.py``) does: attributes present in fewer than
``min_detect`` images of c are dropped and only MI > 0 is kept. The top few per class are
ranked by δ, as the paper (its Table 3 lists each class's attributes by δ: the attribute whose
presence most raises the accuracy is the shortcut), or by MI (``rank_by="mi"``), as the
released code, which may rank first an attribute whose presence lowers the accuracy. Rows stay
grouped by class (classes by their largest δ, rows by rank), so a class's rank 1 is its first row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from clipmend.clip.assign import zero_shot_probs

DETECT_COLUMNS = [
    "label", "class_name", "attribute", "rank", "delta", "mi",
    "n_with", "n_without", "acc_with", "acc_without",
]
RANK_BY = ("delta", "mi")
# MI below this is float noise of an exactly independent table, treated as 0
MI_EPS = 1e-12


def presence_from_attribute(values: Sequence | pd.Series) -> pd.DataFrame:
    """Presence of each recorded attribute value (bool, one column per value, sorted); null: none."""
    values = pd.Series(values)
    names = sorted(values.dropna().unique())
    return pd.DataFrame({name: (values == name).to_numpy() for name in names}, index=values.index)


def presence_from_clip(
    image_embeddings: np.ndarray,
    attribute_embeddings: np.ndarray,
    names: Sequence[str],
    threshold: float | None = None,
    logit_scale: float = 100.0,
) -> pd.DataFrame:
    """Zero-shot presence over attribute phrases (one column per name).

    Embeddings are L2-normalised CLIP embeddings (images N x D, attributes A x D). Each
    image's argmax attribute is present; with ``threshold``, every attribute whose softmax
    probability is >= threshold (possibly none).
    """
    if len(attribute_embeddings) != len(names):
        raise ValueError(f"{len(attribute_embeddings)} attribute embeddings but {len(names)} names")
    if len(set(names)) != len(names):
        raise ValueError(f"attribute names must be unique, got {list(names)}")
    probs = zero_shot_probs(image_embeddings, attribute_embeddings, logit_scale)
    if threshold is None:
        present = np.zeros(probs.shape, dtype=bool)
        present[np.arange(len(probs)), probs.argmax(axis=1)] = True
    elif 0.0 < threshold <= 1.0:
        present = probs >= threshold
    else:
        raise ValueError(f"threshold must be in (0, 1] or None, got {threshold}")
    return pd.DataFrame(present, columns=list(names))


def mutual_information(present: np.ndarray, error: np.ndarray) -> np.ndarray:
    """MI (nats) between each column of ``present`` (N x A bool) and ``error`` (N bool)."""
    present = np.asarray(present, dtype=bool)
    error = np.asarray(error, dtype=bool)[:, None]
    n = len(error)
    mi = np.zeros(present.shape[1])
    if n == 0:
        return mi
    p_present = present.mean(axis=0)
    p_error = error.mean()
    for x, p_x in ((present, p_present), (~present, 1 - p_present)):
        for e, p_e in ((error, p_error), (~error, 1 - p_error)):
            p_xe = (x & e).sum(axis=0) / n
            with np.errstate(divide="ignore", invalid="ignore"):
                mi += np.where(p_xe > 0, p_xe * np.log(p_xe / (p_x * p_e)), 0.0)
    return np.where(mi > MI_EPS, mi, 0.0)


def _class_rows(label: int, name: str, correct: np.ndarray, present: pd.DataFrame, min_detect: int) -> pd.DataFrame:
    """Every attribute with >= min_detect detections and MI > 0 in one class's images."""
    has = present.to_numpy(dtype=bool)
    n_with = has.sum(axis=0)
    n_without = len(has) - n_with
    hits = correct[:, None] & has
    with np.errstate(divide="ignore", invalid="ignore"):
        acc_with = hits.sum(axis=0) / n_with
        acc_without = (correct.sum() - hits.sum(axis=0)) / n_without
    rows = pd.DataFrame({
        "label": label,
        "class_name": name,
        "attribute": present.columns.astype(str),
        "delta": acc_with - acc_without,
        "mi": mutual_information(has, ~correct),
        "n_with": n_with,
        "n_without": n_without,
        "acc_with": acc_with,
        "acc_without": acc_without,
    })
    return rows[(rows["n_with"] >= min_detect) & (rows["mi"] > 0)]


def accuracy_discrepancy(
    labels: Sequence[int],
    correct: Sequence[bool],
    presence: pd.DataFrame,
    class_names: Sequence[str],
    min_detect: int = 10,
    top: int = 5,
    rank_by: str = "delta",
) -> pd.DataFrame:
    """Per class, the ``top`` attributes by δ (or MI) with δ, MI, counts and accuracies (``DETECT_COLUMNS``).

    ``labels``, ``correct`` and the rows of ``presence`` (N x attributes, bool) are aligned.
    Rank 1 is the class's largest δ (ties: larger MI, then name), or with ``rank_by="mi"`` its
    highest MI (ties: larger δ, then name); classes are ordered by their largest δ, descending.
    """
    if rank_by not in RANK_BY:
        raise ValueError(f"spurious.detect.rank_by is {rank_by!r}; valid: {list(RANK_BY)}")
    labels = np.asarray(labels)
    correct = np.asarray(correct, dtype=bool)
    if not len(labels) == len(correct) == len(presence):
        raise ValueError(
            f"{len(labels)} labels, {len(correct)} correctness flags and {len(presence)} "
            "presence rows must be aligned"
        )
    if min_detect < 1 or top < 1:
        raise ValueError(f"min_detect and top must be >= 1, got {min_detect} and {top}")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise ValueError(f"labels must be in [0, {len(class_names)}), got {labels.min()}..{labels.max()}")
    frames = []
    for label in np.unique(labels):
        rows = labels == label
        found = _class_rows(
            int(label), class_names[label], correct[rows], presence.iloc[np.flatnonzero(rows)], min_detect
        )
        keys = ["mi", "delta"] if rank_by == "mi" else ["delta", "mi"]
        found = found.sort_values([*keys, "attribute"], ascending=[False, False, True]).head(top)
        frames.append(found.assign(rank=np.arange(1, len(found) + 1)))
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=DETECT_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    order = out.groupby("label")["delta"].max().sort_values(ascending=False, kind="stable")
    out["_class_order"] = out["label"].map({label: i for i, label in enumerate(order.index)})
    out = out.sort_values(["_class_order", "rank"]).drop(columns="_class_order")
    return out[DETECT_COLUMNS].reset_index(drop=True)


def precision_at_1(detections: pd.DataFrame, truth: Mapping[str, set[str]]) -> tuple[float, int]:
    """Share of classes with a rank-1 row whose rank-1 attribute is among ``truth[class]``.

    Returns (precision, classes counted); a class missing from ``truth`` counts as a miss;
    no class with a rank-1 row gives (nan, 0).
    """
    first = detections[detections["rank"] == 1]
    if first.empty:
        return float("nan"), 0
    hits = [a in truth.get(c, set()) for c, a in zip(first["class_name"], first["attribute"])]
    return float(np.mean(hits)), len(hits)
