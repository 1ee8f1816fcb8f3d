"""CLIP's zero-shot pick of each failure's background, and the top-k backgrounds per class."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def format_clip_prompt(template: str, class_name: str, background: str) -> str:
    """Fill the CLIP prompt template, with a clear error for a bad template."""
    try:
        return template.format(class_name=class_name, background=background)
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(
            f"prompt template {template!r} may use only {{class_name}} and {{background}} ({err!r})"
        ) from None


def zero_shot_probs(
    image_features: np.ndarray, text_features: np.ndarray, logit_scale: float = 100.0
) -> np.ndarray:
    """Softmax over texts of ``logit_scale * image . text``: (N images, T texts), rows sum to 1."""
    logits = logit_scale * np.asarray(image_features) @ np.asarray(text_features).T
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True)


def assign_backgrounds(
    failures: pd.DataFrame,
    image_features: np.ndarray,
    class_names: Sequence[str],
    backgrounds: Mapping[str, Sequence[str]],
    embed_texts: Callable[[list[str]], np.ndarray],
    template: str,
    logit_scale: float = 100.0,
) -> pd.DataFrame:
    """For each failure, the background (among its class's) CLIP finds most likely.

    ``image_features`` are L2-normalised CLIP image embeddings aligned with ``failures``.
    Returns the failures with ``background`` and ``score`` (softmax probability).
    """
    if len(failures) != len(image_features):
        raise ValueError(f"{len(failures)} failures but {len(image_features)} image embeddings")
    out = failures.copy()
    out["background"] = pd.Series([None] * len(out), dtype=object, index=out.index)
    out["score"] = np.nan
    labels = out["label"].to_numpy()
    for label in np.unique(labels):
        class_name = class_names[label]
        options = list(backgrounds.get(class_name, []))
        if not options:
            log.warning("class %r has failures but no candidate backgrounds; left unassigned", class_name)
            continue
        texts = embed_texts([format_clip_prompt(template, class_name, b) for b in options])
        rows = np.flatnonzero(labels == label)
        probs = zero_shot_probs(image_features[rows], texts, logit_scale)
        best = probs.argmax(axis=1)
        out.iloc[rows, out.columns.get_loc("background")] = [options[i] for i in best]
        out.iloc[rows, out.columns.get_loc("score")] = probs[np.arange(len(rows)), best]
    return out


def top_backgrounds(assignments: pd.DataFrame, k: int, part: str | None = "debug_seed") -> dict[int, list[str]]:
    """Per class label, the ``k`` backgrounds CLIP picked most often (ties: alphabetical)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    rows = assignments.dropna(subset=["background"])
    if part is not None:
        rows = rows[rows["part"] == part]
    counts = rows.groupby(["label", "background"]).size().reset_index(name="n")
    counts = counts.sort_values(["label", "n", "background"], ascending=[True, False, True])
    return {int(label): list(g["background"].head(k)) for label, g in counts.groupby("label")}
