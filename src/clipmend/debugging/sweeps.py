"""Sweeps of λ and k (paper Figure 5): all values of one model train in one ``train_heads`` call.

Heads already trained with the same settings (``debug_heads.pt``: the baseline at λ = 0, the
individual head at the configured λ and k) can be passed as ``known`` and are reused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from clipmend.debugging.heads import Head, HeadParams, train_heads
from clipmend.evaluation.metrics import accuracy

# the paper's λ grid (config/imagenet.yaml paper.lambdas); benchmarks/head_batching.py uses it
LAMBDAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 2.0)
SWEEP_COLUMNS = ["dataset", "model", "family", "param", "value", "split", "accuracy", "n"]

Arrays = tuple[np.ndarray, np.ndarray]


def sweep_rows(
    param: str,
    values: Sequence[float],
    heads: Sequence[Head],
    evals: Mapping[str, Arrays],
    *,
    dataset: str,
    model: str,
    family: str,
) -> pd.DataFrame:
    """Long rows (one per value and evaluation split) from heads trained one per value."""
    if len(values) != len(heads):
        raise ValueError(f"{len(values)} {param} values but {len(heads)} heads")
    rows = [
        (dataset, model, family, param, float(value), split, accuracy(head.predict(x), y), len(y))
        for value, head in zip(values, heads)
        for split, (x, y) in evals.items()
    ]
    return pd.DataFrame(rows, columns=SWEEP_COLUMNS)


def lambda_sweep(
    x_orig: np.ndarray,
    y_orig: np.ndarray,
    gen: Arrays,
    lambdas: Sequence[float],
    evals: Mapping[str, Arrays],
    num_classes: int,
    params: HeadParams,
    init: Arrays | None = None,
    *,
    dataset: str,
    model: str,
    family: str,
    known: Mapping[float, Head] | None = None,
    progress: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Accuracy per λ with one generated set: every λ not in ``known`` in one ``train_heads`` call.

    ``options`` (``device``, ``memory_bytes``) go to ``train_heads``.
    """
    _check_values("lambda", lambdas)
    heads = train_heads(x_orig, y_orig, [gen] * len(lambdas), list(lambdas), num_classes, params,
                        init, progress, known=_by_position(lambdas, known), **options)
    return sweep_rows("lambda", lambdas, heads, evals, dataset=dataset, model=model, family=family)


def k_subsets(
    gen_x: np.ndarray,
    gen_meta: pd.DataFrame,
    chosen: Mapping[int, Sequence[str]],
    ks: Sequence[int],
    generated: set[tuple[int, str]] | None = None,
) -> dict[int, Arrays]:
    """The generated set restricted to each class's first ``k`` chosen backgrounds, per k.

    ``gen_meta`` (aligned with ``gen_x``) needs ``label`` and ``background``; ``chosen`` is
    ``top_backgrounds(assignments, max(ks))``, whose order makes smaller k a prefix.
    ``generated``: the (label, background) pairs the set was generated for (default: those of
    ``gen_meta``); of a filtered set, its kept rows can miss a pair whose every image was dropped.
    """
    _check_values("k", ks)
    if any(int(k) != k or k < 1 for k in ks):
        raise ValueError(f"k values must be integers >= 1, got {list(ks)}")
    if len(gen_meta) != len(gen_x):
        raise ValueError(
            f"{len(gen_meta)} rows of generated metadata but {len(gen_x)} feature rows"
        )
    labels = gen_meta["label"].to_numpy()
    backgrounds = gen_meta["background"].to_numpy()
    present = set(zip(labels.tolist(), backgrounds.tolist())) if generated is None else set(generated)
    absent = [
        (label, b)
        for label, bs in chosen.items()
        for b in bs[: max(ks)]
        if (label, b) not in present
    ]
    if absent:
        raise ValueError(
            f"no generated images for (class, background) {absent}; generate the set "
            f"with k >= {max(ks)}"
        )
    out = {}
    for k in ks:
        keep = {(label, b) for label, bs in chosen.items() for b in bs[:k]}
        mask = np.array(
            [pair in keep for pair in zip(labels.tolist(), backgrounds.tolist())], dtype=bool
        )
        out[int(k)] = (gen_x[mask], labels[mask])
    return out


def k_sweep(
    x_orig: np.ndarray,
    y_orig: np.ndarray,
    gens: Mapping[int, Arrays],
    lam: float,
    evals: Mapping[str, Arrays],
    num_classes: int,
    params: HeadParams,
    init: Arrays | None = None,
    *,
    dataset: str,
    model: str,
    family: str,
    known: Mapping[int, Head] | None = None,
    progress: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Accuracy per k (a generated set each, fixed λ): every k not in ``known`` in one call."""
    ks = list(gens)
    _check_values("k", ks)
    heads = train_heads(x_orig, y_orig, [gens[k] for k in ks], [lam] * len(ks), num_classes, params,
                        init, progress, known=_by_position(ks, known), **options)
    return sweep_rows("k", ks, heads, evals, dataset=dataset, model=model, family=family)


def _by_position(values: Sequence[float], known: Mapping[float, Head] | None) -> dict[int, Head]:
    """``known`` heads (by swept value) keyed by their position in ``values``."""
    known = dict(known or {})
    return {i: known[v] for i, v in enumerate(values) if v in known}


def _check_values(param: str, values: Sequence[float]) -> None:
    if not len(values):
        raise ValueError(f"no {param} values to sweep")
    if len(set(values)) != len(values):
        raise ValueError(f"{param} values repeat: {list(values)}")
