"""How good the generated sets are: the filter's precision and recall, its kept-vs-dropped grid,
and individual debugging with each generation variant (``generation_variants.csv``).

Variant intervals reuse the two-level paired bootstrap of ``clipmend.spurious.intervals``:
within a model every variant sees the same drawn images and seed positions, and a model's
replicates are averaged over models (models held fixed), so ``*_vs_text`` differences are paired.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from clipmend.data.images import load_image
from clipmend.data.registry import objects_by_id
from clipmend.generation.filter import filter_quality as quality_row
from clipmend.io import read_parquet, write_csv
from clipmend.reporting import plots
from clipmend.spurious import intervals

log = logging.getLogger(__name__)

PathLike = str | Path

VARIANT_COLUMNS = ["variant", "metric", "mean", "ci_low", "ci_high", "n_seeds"]
REFERENCE = "text"  # the variant every other one is compared with (paired)


Estimates = dict[str, tuple[float, np.ndarray, int]]  # per variant: mean, bootstrap replicates, seeds


def _part_estimates(rows: pd.DataFrame, draws: np.ndarray, rng: np.random.Generator, replicates: int,
                    objects: pd.Series | None = None) -> tuple[Estimates, Estimates]:
    """Per variant: (mean, replicates, seeds) of accuracy on this part, and its gain over the baseline.

    ``objects`` (by image id): where a part shows one object in several images (the demo's paired
    test split), the bootstrap draws objects with all their images, not images one by one."""
    wide = rows.pivot_table(index="id", columns=["strategy", "seed"], values="pred", aggfunc="first")
    labels = rows.drop_duplicates("id").set_index("id")["label"].reindex(wide.index).to_numpy()
    correct = wide.to_numpy() == labels[:, None]
    clusters = intervals.object_clusters(None if objects is None else objects.reindex(wide.index).to_numpy(),
                                         labels)
    counts = intervals.resample_groups(correct, np.zeros(len(wide), dtype=int), replicates, rng, **clusters)
    obs, boot = intervals.average(counts.observed, counts.sizes), intervals.average(counts.replicates, counts.sizes)
    strategies = wide.columns.get_level_values(0)
    base = int(np.flatnonzero(strategies == "baseline")[0])
    accuracy, gain = {}, {}
    for variant in dict.fromkeys(s for s in strategies if s != "baseline"):
        cols = np.flatnonzero(strategies == variant)
        accuracy[variant] = (*intervals.seed_mean(obs[cols], boot[:, cols], draws), len(cols))
        gain[variant] = (*intervals.seed_mean(obs[cols] - obs[base], boot[:, cols] - boot[:, [base]], draws),
                         len(cols))
    return accuracy, gain


def variant_intervals(predictions: pd.DataFrame, replicates: int = intervals.REPLICATES,
                      objects: pd.Series | None = None) -> pd.DataFrame:
    """Each variant's held-out gain and test accuracy over models, with paired 95% intervals; and each minus ``text``.

    ``predictions``: ``variant_head_seeds`` rows of every model (strategy = variant, plus the baseline).
    ``objects``: the object each image shows, by id (the index's ``object`` column; None: images
    are drawn one by one).
    """
    if predictions.empty:
        raise ValueError("no variant predictions: every model's generation_variant_seeds file is empty")
    n_seeds = int(predictions[predictions["strategy"] != "baseline"].groupby(["model", "strategy"])["seed"]
                  .nunique().max())
    draws = intervals.seed_draws(replicates, n_seeds, np.random.default_rng(1))
    rng = np.random.default_rng(0)
    per_model: dict[tuple[str, str], list] = {}
    for _, rows in predictions.groupby("model", sort=True):
        test, _ = _part_estimates(rows[rows["part"] == "test"], draws, rng, replicates, objects)
        _, gain = _part_estimates(rows[rows["part"] == "debug_heldout"], draws, rng, replicates, objects)
        for metric, values in (("heldout_gain", gain), ("test_accuracy", test)):
            for variant, value in values.items():
                per_model.setdefault((variant, metric), []).append(value)
    pooled = {key: (float(np.mean([v[0] for v in vals])), np.mean([v[1] for v in vals], axis=0),
                    min(v[2] for v in vals)) for key, vals in per_model.items()}
    rows = []
    for (variant, metric), (mean, reps, seeds) in pooled.items():
        rows.append([variant, metric, mean, *intervals.interval(reps), seeds])
        reference = pooled.get((REFERENCE, metric))
        if variant != REFERENCE and reference is not None:
            rows.append([variant, f"{metric}_vs_{REFERENCE}", mean - reference[0],
                         *intervals.interval(reps - reference[1]), seeds])
    return pd.DataFrame(rows, columns=VARIANT_COLUMNS)


def generation_variants(predictions: Sequence[PathLike], variants: Sequence[str], out: PathLike,
                        index: PathLike | None = None) -> pd.DataFrame:
    """``generation_variants.csv`` from every model's variant seeds, variants in config order.

    ``index``: the data set's index; its ``object`` column (where there is one) makes the bootstrap
    draw objects on a paired test split."""
    objects = None if index is None else objects_by_id(read_parquet(index))
    table = variant_intervals(pd.concat([read_parquet(p) for p in predictions], ignore_index=True),
                              objects=objects)
    order = {v: i for i, v in enumerate(variants)}
    table = table.sort_values("variant", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    write_csv(table, out)
    log.info("generation variants:\n%s", table.to_string(index=False))
    return table


def _pooled_manifests(manifests: Sequence[PathLike]) -> pd.DataFrame:
    """Every model's scored manifests, each image once (models share the image store)."""
    frames = [read_parquet(p).assign(set=Path(p).stem) for p in manifests]
    return pd.concat(frames, ignore_index=True).drop_duplicates("id").reset_index(drop=True)


def filter_quality(manifests: Sequence[PathLike], out: PathLike) -> pd.DataFrame:
    """``filter_quality.csv``: per set and over all, images, dropped, defective, precision and recall of dropping."""
    pooled = _pooled_manifests(manifests)
    rows = [{"set": name, **quality_row(frame)} for name, frame in pooled.groupby("set", sort=True)]
    rows.append({"set": "all", **quality_row(pooled)})
    table = pd.DataFrame(rows)
    write_csv(table, out)
    log.info("filter quality:\n%s", table.to_string(index=False))
    return table


def filter_grid(manifests: Sequence[PathLike], png_out: PathLike, per_side: int = 6) -> None:
    """A grid of kept (first row) and dropped (second row) generated images, with their scores."""
    pooled = _pooled_manifests(manifests)
    pooled = pooled[pooled["background"].notna()] if pooled["background"].notna().any() else pooled
    picked = []
    for kept in (True, False):
        rows = pooled[pooled["kept"] == kept]
        picked.append(rows.sample(min(per_side, len(rows)), random_state=0) if len(rows) else rows)
    rows = pd.concat(picked)
    if rows.empty:
        raise ValueError("no generated images in the filtered manifests")
    titles = [f"{'kept' if r.kept else 'DROPPED'}: {r.class_name}\n{r.background}\n"
              f"class {r.score_class:.2f} bg {r.score_background:.2f}"
              + ("" if pd.isna(getattr(r, "defect", None)) else f"\n(true: {r.defect})") for r in rows.itertuples()]
    dropped, total = int((~pooled["kept"]).sum()), len(pooled)
    plots.plot_failure_gallery([load_image(p) for p in rows["image"]], titles, png_out, ncols=per_side,
                               title=f"Filter: kept (top) vs dropped (bottom); {dropped} of {total} dropped")
