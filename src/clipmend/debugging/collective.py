"""Collective debugging (paper §5.3.2): one generated set debugs every model of a family.

Type 1 (``collective_family``) pools the debug_seed failures of all members and picks the
top backgrounds from the pool; type 2 (``collective_single``) reuses one representative
member's own generated set. The collective-debugging matrix trains every target model's
head with every source set: each model's individual set and each family's pooled set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from clipmend.evaluation.metrics import COLUMNS, SPLITS, accuracy

STRATEGIES = ("collective_family", "collective_single")
MATRIX_COLUMNS = [
    "dataset",
    "target",
    "target_family",
    "source",
    "source_kind",
    "source_family",
    "split",
    "accuracy",
    "n",
]


@dataclass(frozen=True)
class Source:
    """A generated set: one model's individual set (kind ``model``) or a family's pooled set."""

    name: str
    kind: Literal["model", "family"]
    family: str

    @property
    def label(self) -> str:
        """How the set is shown in tables and plots."""
        return self.name if self.kind == "model" else f"{self.name} (pooled)"


def pool_assignments(
    assignments_by_model: Mapping[str, pd.DataFrame], members: Sequence[str], strict: bool = True
) -> pd.DataFrame:
    """The members' debug_seed assignments stacked, with a ``model`` column.

    An image that fails for several members counts once per member, so backgrounds the
    family fails on more often weigh more in ``top_backgrounds``. Each model splits its own
    failures, so an image can be one member's seed and another's heldout; ``strict`` drops
    such images from the pool to keep every member's debug_heldout unseen.
    """
    missing = [m for m in members if m not in assignments_by_model]
    if missing:
        raise ValueError(
            f"no assignments for members {missing}; have {sorted(assignments_by_model)}"
        )
    if not members:
        raise ValueError("a family needs at least one member to pool")
    tables = [assignments_by_model[m].assign(model=m) for m in members]
    pooled = pd.concat(tables, ignore_index=True)
    seed = pooled["part"] == "debug_seed"
    if strict:
        seed &= ~pooled["id"].isin(pooled.loc[pooled["part"] == "debug_heldout", "id"])
    return pooled[seed].reset_index(drop=True)


def strategy_sources(target: str, family: str, reps: Mapping[str, str]) -> dict[str, Source]:
    """Which source set each strategy trains ``target``'s head with."""
    if family not in reps:
        raise ValueError(f"no representative for family {family!r}; have {sorted(reps)}")
    return {
        "individual": Source(target, "model", family),
        "collective_family": Source(family, "family", family),
        "collective_single": Source(reps[family], "model", family),
    }


def matrix_rows(
    dataset: str,
    target: str,
    family: str,
    predictions: Mapping[Source, np.ndarray],
    labels: np.ndarray,
    sets: Mapping[str, np.ndarray],
) -> pd.DataFrame:
    """One row per (source, split): accuracy of ``target``'s head trained with that source's set."""
    rows = [
        (
            dataset,
            target,
            family,
            src.name,
            src.kind,
            src.family,
            split,
            accuracy(pred[sets[split]], labels[sets[split]]),
            len(sets[split]),
        )
        for src, pred in predictions.items()
        for split in SPLITS
    ]
    return pd.DataFrame(rows, columns=MATRIX_COLUMNS)


def collective_metrics(matrix: pd.DataFrame, reps: Mapping[str, str]) -> pd.DataFrame:
    """The collective_family and collective_single rows (long metrics format) of the matrix."""
    parts = []
    for (target, family), rows in matrix.groupby(["target", "target_family"], sort=False):
        sources = strategy_sources(target, family, reps)
        for strategy in STRATEGIES:
            src = sources[strategy]
            hit = rows[(rows["source"] == src.name) & (rows["source_kind"] == src.kind)]
            if hit.empty:
                raise ValueError(
                    f"the matrix has no {src.label!r} source for target {target!r} ({strategy})"
                )
            parts.append(hit.assign(model=target, family=family, strategy=strategy))
    if not parts:
        raise ValueError("the matrix has no rows")
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def resolved_overlap(
    pred_individual: np.ndarray,
    pred_collective: np.ndarray,
    labels: np.ndarray,
    heldout_idx: np.ndarray,
) -> float:
    """Share of heldout failures fixed by individual debugging that collective also fixes."""
    fixed = pred_individual[heldout_idx] == labels[heldout_idx]
    both = fixed & (pred_collective[heldout_idx] == labels[heldout_idx])
    return float(both.sum() / fixed.sum()) if fixed.any() else float("nan")


def resolution_rows(
    dataset: str,
    model: str,
    family: str,
    predictions: Mapping[str, np.ndarray],
    labels: np.ndarray,
    heldout_idx: np.ndarray,
    reference: str = "individual",
) -> pd.DataFrame:
    """Per strategy but ``reference``: heldout failures it fixes, both fix, and the overlap."""
    if reference not in predictions:
        raise ValueError(
            f"no predictions for reference strategy {reference!r}; have {sorted(predictions)}"
        )
    ref = predictions[reference]
    fixed_ref = int(np.sum(ref[heldout_idx] == labels[heldout_idx]))
    rows = []
    for strategy, pred in predictions.items():
        if strategy == reference:
            continue
        fixed = pred[heldout_idx] == labels[heldout_idx]
        both = int(np.sum(fixed & (ref[heldout_idx] == labels[heldout_idx])))
        rows.append(
            (
                dataset,
                model,
                family,
                strategy,
                len(heldout_idx),
                fixed_ref,
                int(fixed.sum()),
                both,
                resolved_overlap(ref, pred, labels, heldout_idx),
            )
        )
    return pd.DataFrame(
        rows,
        columns=[
            "dataset",
            "model",
            "family",
            "strategy",
            "n_heldout",
            "resolved_reference",
            "resolved",
            "resolved_both",
            "overlap",
        ],
    )


def overlap_summary(resolution: pd.DataFrame) -> pd.DataFrame:
    """Per data set and strategy: the overlap pooled over models, and its per-model mean, min."""
    grouped = resolution.groupby(["dataset", "strategy"], sort=False)
    sums = grouped[["resolved_reference", "resolved_both"]].sum()
    out = pd.DataFrame(
        {
            "models": grouped.size(),
            "pooled": sums["resolved_both"]
            / sums["resolved_reference"].where(sums["resolved_reference"] > 0),
            "mean": grouped["overlap"].mean(),
            "min": grouped["overlap"].min(),
        }
    )
    return out.reset_index()


def relative_accuracy(
    metrics: pd.DataFrame,
    split: str = "debug_heldout",
    reference: str = "individual",
    strategies: Sequence[str] = STRATEGIES,
) -> pd.DataFrame:
    """Per model and collective strategy: its accuracy over ``reference``'s on ``split``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {list(SPLITS)}")
    rows = metrics[metrics["split"] == split]
    wanted = [reference, *strategies]
    absent = [s for s in wanted if s not in set(rows["strategy"])]
    if absent:
        raise ValueError(
            f"metrics have no {split} rows for strategies {absent}; "
            f"have {sorted(set(rows['strategy']))}"
        )
    table = rows.pivot_table(
        index=["dataset", "model", "family"], columns="strategy", values="accuracy", sort=False
    )
    ref = table[reference]
    out = []
    for strategy in strategies:
        part = pd.DataFrame({"strategy": strategy, "reference": ref, "accuracy": table[strategy]})
        part["relative"] = part["accuracy"] / ref.where(ref > 0)
        out.append(part.reset_index())
    return pd.concat(out, ignore_index=True)
