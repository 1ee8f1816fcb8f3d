"""The filter after generation: CLIP's zero-shot agreement of each image with its prompt.

ALIA (Dunlap et al. 2023) drops generated images that are off-class or off-prompt before
they train anything. Each image gets a probability per check, a softmax at the CLIP's own
logit scale:

- ``background``: the prompt's background among every background proposed for any class,
  each phrased with the prompt's class; the probabilities of its synonyms (texts whose CLIP
  embedding is within ``SYNONYM_COSINE`` of it: "on a lawn", "on the grass") count as its
  own. Images prompted without a background have none and pass this check.
- ``class``: the prompt's class among all classes, each phrased with the background the image
  shows (CLIP's first choice in the background check above, asked of every image), so the
  background, named in every text, does not decide the class. Not the prompted background:
  on an image prompted without one, or whose background came out wrong, that text describes
  another picture (measured on one demo model's sets of two generation seeds: the shown
  background tells the random set's missing and wrong-class images from clean ones at AUC
  0.75 and 0.86, a bare "a photo of a {class}" at 0.66 and 0.83; ``benchmarks/filter_thresholds.py``
  measures the AUCs of the scores as built).

Both need the same texts as before the image is seen: every class with each shown
background, and the prompted class with every candidate background.

An image is kept when every score in ``thresholds`` is at least its threshold. The scored
manifest (the generation manifest plus ``score_*`` and ``kept``) is what the features step
reads: a dropped image never reaches a head.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clipmend.clip.assign import format_clip_prompt, zero_shot_probs

log = logging.getLogger(__name__)

PathLike = str | Path

SCORES = ("class", "background")
SYNONYM_COSINE = 0.9  # background texts this close to the prompt's are the same background


def check_thresholds(thresholds: Mapping[str, Any]) -> dict[str, float]:
    """The filter's thresholds by score name, with a clear error for an unknown score or a bad value."""
    if not thresholds:
        raise ValueError(f"filter.thresholds is empty; give at least one of {list(SCORES)}")
    out = {}
    for name, value in thresholds.items():
        if name not in SCORES:
            raise ValueError(f"filter.thresholds has unknown score {name!r}; valid: {list(SCORES)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"filter.thresholds.{name} must be in [0, 1], got {value!r}")
        out[name] = float(value)
    return out


def candidate_backgrounds(proposal: Mapping[str, Any], prompted: Sequence[str | None]) -> list[str]:
    """Every background proposed for any class (``backgrounds.json``) and every prompted one, once each.

    A prompt without a background (None, or NaN as a parquet round trip can make it) adds none.
    """
    proposed = [b for v in proposal.get("classes", {}).values() for b in v.get("backgrounds", [])]
    return list(dict.fromkeys([*proposed, *(b for b in prompted if not pd.isna(b))]))


def score_images(manifest: pd.DataFrame, image_features: np.ndarray, class_names: Sequence[str],
                 backgrounds: Sequence[str], embed_texts: Callable[[list[str]], np.ndarray],
                 prompt: str, logit_scale: float) -> pd.DataFrame:
    """``score_class`` and ``score_background`` (NaN: no background prompted) of each manifest row.

    ``prompt``: the CLIP prompt (config ``clip.prompt``, with ``{class_name}`` and ``{background}``).
    """
    if len(manifest) != len(image_features):
        raise ValueError(f"{len(manifest)} images but {len(image_features)} CLIP embeddings")
    if not backgrounds:
        raise ValueError("the filter has no candidate backgrounds: backgrounds.json proposes none")
    labels = manifest["label"].to_numpy(dtype=int)
    prompted = np.array([None if pd.isna(b) else b for b in manifest["background"]], dtype=object)
    has_background = np.array([b is not None for b in prompted])
    scores = pd.DataFrame({"score_class": np.nan, "score_background": np.nan}, index=manifest.index)
    options = list(backgrounds)
    shown = np.zeros(len(manifest), dtype=int)  # index into options of the background CLIP sees
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        texts = embed_texts([format_clip_prompt(prompt, class_names[label], b) for b in options])
        probs = zero_shot_probs(image_features[rows], texts, logit_scale)
        shown[rows] = probs.argmax(axis=1)
        asked = rows[has_background[rows]]
        if len(asked):
            synonyms = texts @ texts.T >= SYNONYM_COSINE  # (option, option)
            chosen = np.array([options.index(b) for b in prompted[asked]])
            scores.iloc[asked, 1] = (probs[has_background[rows]] * synonyms[chosen]).sum(axis=1)
    for option in np.unique(shown):
        rows = np.flatnonzero(shown == option)
        texts = embed_texts([format_clip_prompt(prompt, c, options[option]) for c in class_names])
        probs = zero_shot_probs(image_features[rows], texts, logit_scale)
        scores.iloc[rows, 0] = probs[np.arange(len(rows)), labels[rows]]
    return scores


def with_scores(manifest: pd.DataFrame, table: pd.DataFrame, source: str = "the scores table") -> pd.DataFrame:
    """``manifest`` with the ``score_*`` columns of its images from the shared scores ``table`` (by ``id``)."""
    missing = sorted(set(manifest["id"]) - set(table["id"]))
    if missing:
        raise ValueError(f"{len(missing)} images of the manifest have no scores in {source} "
                         f"(e.g. {missing[:3]}); re-run score_generated_images")
    columns = [c for c in table.columns if c.startswith("score_")]
    scores = table.drop_duplicates("id").set_index("id")[columns].reindex(manifest["id"])
    return pd.concat([manifest.drop(columns=columns, errors="ignore"),
                      scores.set_axis(manifest.index)], axis=1)


def decide(scores: pd.DataFrame, thresholds: Mapping[str, float]) -> np.ndarray:
    """Keep an image when each thresholded score is at least its threshold (a missing score passes)."""
    kept = np.ones(len(scores), dtype=bool)
    for name, threshold in check_thresholds(thresholds).items():
        values = scores[f"score_{name}"].to_numpy(dtype=float)
        kept &= np.isnan(values) | (values >= threshold)
    return kept


def filter_quality(manifest: pd.DataFrame) -> dict[str, Any]:
    """Precision and recall of dropping a defective image, from the manifest's true content (``defect``).

    NaN where the generator does not know what its images show (``true_class`` all null: diffusers).
    """
    n = len(manifest)
    dropped = ~manifest["kept"].to_numpy(dtype=bool)
    known = "true_background" in manifest and manifest["true_background"].notna().all() and n > 0
    row = {"n_images": n, "n_dropped": int(dropped.sum())}
    if not known:
        return row | {"n_defective": np.nan, "precision": np.nan, "recall": np.nan}
    defective = manifest["defect"].notna().to_numpy()
    hits = int((dropped & defective).sum())
    row |= {"n_defective": int(defective.sum()),
            "precision": hits / dropped.sum() if dropped.any() else np.nan,
            "recall": hits / defective.sum() if defective.any() else np.nan}
    for defect in sorted(manifest["defect"].dropna().unique()):
        rows = manifest["defect"].to_numpy() == defect
        row[f"recall_{defect}"] = float(dropped[rows].mean())
    return row


def kept_rows(manifest: pd.DataFrame) -> pd.DataFrame:
    """The rows of a generated set's manifest that the filter kept (``kept``; all rows of an unfiltered one)."""
    if "kept" not in manifest:
        return manifest
    dropped = int((~manifest["kept"].to_numpy(dtype=bool)).sum())
    if dropped:
        log.info("%d of %d images the filter dropped are left out", dropped, len(manifest))
    return manifest[manifest["kept"].to_numpy(dtype=bool)].reset_index(drop=True)
