"""How alike models fail (paper Figure 4): intersection over union of their debug-set failures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

FailureSet = set[str] | frozenset[str] | pd.DataFrame


def family_order(models: Iterable[str], families: Mapping[str, str]) -> list[str]:
    """Models grouped by family (families in order of first appearance), stable within a family."""
    models = list(models)
    missing = [m for m in models if m not in families]
    if missing:
        raise ValueError(f"no family given for models {missing}")
    first = {}
    for m in models:
        first.setdefault(families[m], len(first))
    return sorted(models, key=lambda m: first[families[m]])


def _ids(failures: FailureSet) -> set[str]:
    if isinstance(failures, pd.DataFrame):
        if "id" not in failures.columns:
            raise ValueError(
                f"a failures table needs an 'id' column; got columns {list(failures.columns)}"
            )
        return set(failures["id"].astype(str))
    return {str(i) for i in failures}


def failure_iou(failures_by_model: Mapping[str, FailureSet], order: Sequence[str]) -> pd.DataFrame:
    """Square matrix |F_a ∩ F_b| / |F_a ∪ F_b| over models in ``order`` (1 for two empty sets).

    A model's failures are a set of image ids or a failures table (its ``id`` column).
    """
    order = list(order)
    dupes = sorted({m for m in order if order.count(m) > 1})
    if dupes:
        raise ValueError(f"models listed twice in order: {dupes}")
    missing = [m for m in order if m not in failures_by_model]
    if missing:
        raise ValueError(f"no failures for models {missing}; have {sorted(failures_by_model)}")
    sets = [_ids(failures_by_model[m]) for m in order]
    universe = {i: n for n, i in enumerate(sorted(set().union(*sets)))}
    member = np.zeros((len(order), len(universe)), dtype=np.float64)
    for row, ids in enumerate(sets):
        member[row, [universe[i] for i in ids]] = 1.0
    inter = member @ member.T
    size = member.sum(axis=1)
    union = size[:, None] + size[None, :] - inter
    iou = np.divide(inter, union, out=np.ones_like(inter), where=union > 0)
    return pd.DataFrame(
        iou, index=pd.Index(order, name="model"), columns=pd.Index(order, name="model")
    )


def iou_summary(iou: pd.DataFrame, families: Mapping[str, str]) -> pd.DataFrame:
    """Mean IoU of model pairs within a family and across families, per family and overall.

    Each unordered pair of distinct models counts once (the diagonal is excluded). A
    family's ``across`` pairs are its members with every model outside it; the last row,
    ``all families``, averages over all within-family and all cross-family pairs.
    """
    models = list(iou.index)
    if list(iou.columns) != models:
        raise ValueError(
            "the IoU matrix must have the same models, in the same order, on both axes"
        )
    missing = [m for m in models if m not in families]
    if missing:
        raise ValueError(f"no family given for models {missing}")
    fam = np.array([families[m] for m in models], dtype=object)
    values = iou.to_numpy(dtype=float)
    upper = np.triu(np.ones_like(values, dtype=bool), k=1)
    same = fam[:, None] == fam[None, :]
    rows = []
    for family in dict.fromkeys(fam):
        mine = fam == family
        touches = (mine[:, None] | mine[None, :]) & upper
        rows.append(_summary_row(family, values, touches & same, touches & ~same))
    rows.append(_summary_row("all families", values, upper & same, upper & ~same))
    return pd.DataFrame(
        rows, columns=["family", "within", "across", "within_pairs", "across_pairs"]
    )


def _summary_row(name: str, values: np.ndarray, within: np.ndarray, across: np.ndarray) -> tuple:
    mean = lambda mask: float(values[mask].mean()) if mask.any() else float("nan")  # noqa: E731
    return name, mean(within), mean(across), int(within.sum()), int(across.sum())
