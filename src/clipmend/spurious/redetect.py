"""Re-detection after the fix (the Whac-A-Mole check): δ per class and attribute before and after debugging.

The second paper's δ (``clipmend.spurious.detect``: accuracy of a class's images with an
attribute minus without it) is measured for every class × attribute pair on the same images
twice: with a model's original head (its failures) and with its debugged heads, one per seed.
A 95% interval comes from the two-level bootstrap of ``clipmend.spurious.intervals`` (images
redrawn within each class × attribute group, the seeds redrawn), the same draws before and
after, so the change is paired. A pair is *targeted* when its attribute is one of the
backgrounds the class was debugged for. Fixing the targeted backgrounds should shrink their
|δ|; Whac-A-Mole (Li et al., CVPR 2023) is another attribute's |δ| growing meanwhile.
Verdicts come from the interval of the change in |δ|: ``shrank`` (it lies below 0), ``grew``
(above 0), ``unchanged`` (it holds 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from clipmend.spurious import intervals

REDETECT_COLUMNS = [
    "model", "strategy", "label", "class_name", "attribute", "targeted", "n_with", "n_without", "n_seeds",
    "delta_before", "delta_before_low", "delta_before_high",
    "delta_after", "delta_after_low", "delta_after_high",
    "abs_change", "abs_change_low", "abs_change_high",
    "acc_with_before", "acc_with_after", "acc_with_change_low", "acc_with_change_high",
    "verdict",
]
SUMMARY_COLUMNS = ["model", "strategy", "targeted_pairs", "targeted_shrank", "targeted_grew",
                   "other_pairs", "other_grew", "other_grew_acc_fell", "other_shrank", "whac_a_mole"]
VERDICTS = ("shrank", "unchanged", "grew")
EPS = 1e-9  # float noise of a mean over seeds: a change this small is none


def targeted_attributes(chosen: Mapping[int, Sequence[str]], resolve: Callable[[str], str]) -> dict[int, set[str]]:
    """Per class label, the attribute values its chosen backgrounds name (phrases ``resolve`` cannot map: none)."""
    out: dict[int, set[str]] = {}
    for label, phrases in chosen.items():
        values = set()
        for phrase in phrases:
            try:
                values.add(resolve(phrase))
            except ValueError:  # a phrase naming no recorded attribute targets none
                continue
        out[int(label)] = values
    return out


def _deltas(counts: np.ndarray, sizes: np.ndarray, class_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(δ, accuracy with) of every group from correct counts (..., G, K): with it vs the class's other groups."""
    totals, class_sizes = intervals.merge_groups(counts, sizes, class_of)
    totals = np.take(totals, class_of, axis=-2)
    rest = (class_sizes[class_of] - sizes)[:, None]
    acc_with = counts / sizes[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return acc_with - (totals - counts) / rest, acc_with


def _verdict(low: float, high: float) -> str:
    return "shrank" if high < -EPS else "grew" if low > EPS else "unchanged"


def redetect(labels: Sequence[int], attributes: Sequence[str], before: Sequence[bool], after: np.ndarray,
             class_names: Sequence[str], targeted: Mapping[int, set[str]], min_detect: int = 10,
             replicates: int = intervals.REPLICATES, seed: int = 0,
             objects: Sequence | None = None) -> pd.DataFrame:
    """δ of every class × attribute pair before (one head) and after (one head per seed), with 95% intervals.

    ``before`` (N,) and ``after`` (N, S) say whether each image is classified correctly; ``labels``
    and ``attributes`` (its recorded attribute value) are aligned with them. Pairs with fewer than
    ``min_detect`` images with the attribute, or none without it, are left out. ``objects``: the
    object each image shows, where a paired test split shows one on several backgrounds: the
    bootstrap then draws objects, not images (``intervals.object_clusters``). Columns:
    ``REDETECT_COLUMNS`` (``model`` and ``strategy`` empty: the caller fills them).
    """
    labels = np.asarray(labels)
    values = np.asarray(attributes, dtype=object)
    after = np.asarray(after, dtype=bool)
    after = after[:, None] if after.ndim == 1 else after
    if not len(labels) == len(values) == len(before) == len(after):
        raise ValueError(f"{len(labels)} labels, {len(values)} attributes, {len(before)} and {len(after)} "
                         "correctness flags must be aligned")
    if min_detect < 1:
        raise ValueError(f"spurious.detect.min_detect must be >= 1, got {min_detect}")
    keep = pd.notna(values)
    labels, values, after = labels[keep], values[keep].astype(str), after[keep]
    clusters = intervals.object_clusters(None if objects is None else np.asarray(objects, dtype=object)[keep],
                                         labels)
    correct = np.column_stack([np.asarray(before, dtype=bool)[keep], after])
    if not len(labels):
        return pd.DataFrame(columns=REDETECT_COLUMNS)
    keys = pd.MultiIndex.from_arrays([labels, values]).to_flat_index()
    names, group = np.unique(np.array([f"{c}\x00{a}" for c, a in keys]), return_inverse=True)
    pairs = [(int(n.split("\x00")[0]), n.split("\x00")[1]) for n in names]
    class_ids = {c: i for i, c in enumerate(sorted({c for c, _ in pairs}))}
    class_of = np.array([class_ids[c] for c, _ in pairs])
    counts = intervals.resample_groups(correct, group, replicates, np.random.default_rng(seed), **clusters)
    delta, acc = _deltas(counts.observed, counts.sizes, class_of)  # (G, 1 + S)
    delta_boot, acc_boot = _deltas(counts.replicates, counts.sizes, class_of)  # (B, G, 1 + S)
    draws = intervals.seed_draws(replicates, after.shape[1], np.random.default_rng(seed + 1))
    n_seeds = after.shape[1]
    pick = np.floor(draws[:, :n_seeds] * n_seeds).astype(int)[:, None, :]  # as intervals.seed_mean

    def after_mean(observed: np.ndarray, boot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return observed[:, 1:].mean(1), np.take_along_axis(boot[..., 1:], np.broadcast_to(
            pick, (len(boot), boot.shape[1], n_seeds)), axis=2).mean(2)

    d_after, d_after_boot = after_mean(delta, delta_boot)
    a_after, a_after_boot = after_mean(acc, acc_boot)
    d_before, d_before_boot = delta[:, 0], delta_boot[..., 0]
    change_boot = np.abs(d_after_boot) - np.abs(d_before_boot)
    acc_change_boot = a_after_boot - acc_boot[..., 0]
    class_sizes = np.bincount(class_of, weights=counts.sizes)
    rows = []
    for g, (label, attribute) in enumerate(pairs):
        n_with, n_without = int(counts.sizes[g]), int(class_sizes[class_of[g]] - counts.sizes[g])
        if n_with < min_detect or n_without == 0:
            continue
        change_ci = intervals.interval(change_boot[:, g])
        rows.append({
            "model": "", "strategy": "", "label": label, "class_name": class_names[label],
            "attribute": attribute, "targeted": attribute in targeted.get(label, set()),
            "n_with": n_with, "n_without": n_without, "n_seeds": n_seeds,
            "delta_before": d_before[g], **_ci("delta_before", d_before_boot[:, g]),
            "delta_after": d_after[g], **_ci("delta_after", d_after_boot[:, g]),
            "abs_change": abs(d_after[g]) - abs(d_before[g]), **_ci("abs_change", change_boot[:, g]),
            "acc_with_before": acc[g, 0], "acc_with_after": a_after[g],
            **_ci("acc_with_change", acc_change_boot[:, g]),
            "verdict": _verdict(*change_ci),
        })
    return pd.DataFrame(rows, columns=REDETECT_COLUMNS)


def _ci(name: str, replicates: np.ndarray) -> dict[str, float]:
    low, high = intervals.interval(replicates)
    return {f"{name}_low": low, f"{name}_high": high}


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per model and strategy: targeted pairs whose |δ| shrank, other pairs whose |δ| grew (Whac-A-Mole).

    ``other_grew_acc_fell``: of those, the pairs whose accuracy with the attribute also fell
    (its interval below 0), not only relative to the class's other images.
    """
    rows = []
    for (model, strategy), rows_of in table.groupby(["model", "strategy"], sort=False):
        hit, other = rows_of[rows_of["targeted"].astype(bool)], rows_of[~rows_of["targeted"].astype(bool)]
        grew = other["verdict"] == "grew"
        rows.append({
            "model": model, "strategy": strategy,
            "targeted_pairs": len(hit), "targeted_shrank": int((hit["verdict"] == "shrank").sum()),
            "targeted_grew": int((hit["verdict"] == "grew").sum()),
            "other_pairs": len(other), "other_grew": int(grew.sum()),
            "other_grew_acc_fell": int((grew & (other["acc_with_change_high"] < 0)).sum()),
            "other_shrank": int((other["verdict"] == "shrank").sum()),
            "whac_a_mole": bool(grew.any()),
        })
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
