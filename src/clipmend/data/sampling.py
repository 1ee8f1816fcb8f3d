"""Seeded, order-independent subsets of labelled items: per-class samples and stratified splits.

Callers pass items in a canonical order (sorted file names, official positions), so a
seed always selects the same images.
"""

from __future__ import annotations

import logging

import numpy as np

from clipmend.data.registry import DEBUG_SPLIT

log = logging.getLogger(__name__)


def sample_per_class(labels: np.ndarray, per_class: int | None, seed: int) -> np.ndarray:
    """Sorted positions of ``per_class`` seeded random items of every class (None: all items).

    Each class draws from its own generator (seeded by ``seed`` and its integer label),
    so a class's sample does not depend on the other classes.
    """
    labels = np.asarray(labels)
    if per_class is None:
        return np.arange(len(labels))
    keep = []
    for label in np.unique(labels):
        rng = np.random.default_rng([seed, int(label)])
        members = np.flatnonzero(labels == label)
        if len(members) < per_class:
            log.warning(
                "class %s has %d items, fewer than the %d asked for", label, len(members), per_class
            )
            keep.append(members)
        else:
            keep.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=int)


def _quotas(counts: np.ndarray, n_first: int, rng: np.random.Generator) -> np.ndarray:
    """Per-class shares of ``n_first`` proportional to ``counts`` (largest remainders, seeded ties)."""
    ideal = counts * n_first / counts.sum()
    quota = np.floor(ideal).astype(int)
    remainder = ideal - quota
    order = np.lexsort((rng.random(len(counts)), -remainder))
    quota[order[: n_first - quota.sum()]] += 1
    return quota


def stratified_split(labels: np.ndarray, n_first: int, seed: int) -> np.ndarray:
    """A seeded boolean mask of exactly ``n_first`` items, spread over classes in proportion."""
    labels = np.asarray(labels)
    if not 0 <= n_first <= len(labels):
        raise ValueError(f"cannot take {n_first} of {len(labels)} items")
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), dtype=bool)
    if n_first == 0:
        return mask
    classes, counts = np.unique(labels, return_counts=True)
    for label, quota in zip(classes, _quotas(counts, n_first, rng)):
        members = np.flatnonzero(labels == label)
        mask[rng.permutation(members)[:quota]] = True
    return mask


def debug_test_split(
    labels: np.ndarray, debug_size: int, test_size: int | None, seed: int
) -> np.ndarray:
    """Assign each item ``val`` (the debug set), ``test`` or ``""`` (unused), stratified by class."""
    labels = np.asarray(labels)
    rest = len(labels) - debug_size
    if debug_size < 0 or rest < 0 or (test_size is not None and not 0 <= test_size <= rest):
        raise ValueError(
            f"debug_size {debug_size} + test_size {test_size} exceed the {len(labels)} "
            "images available; lower them (test_size null takes the rest)"
        )
    split = np.full(len(labels), "", dtype=object)
    debug = stratified_split(labels, debug_size, seed)
    split[debug] = DEBUG_SPLIT
    others = np.flatnonzero(~debug)
    test = stratified_split(labels[others], rest if test_size is None else test_size, seed + 1)
    split[others[test]] = "test"
    return split
