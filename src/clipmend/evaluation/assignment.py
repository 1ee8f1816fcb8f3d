"""How often CLIP's assigned background is a failure's true background (where one is known)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping

import pandas as pd

from clipmend.text import normalize_phrase

log = logging.getLogger(__name__)

# the data-set kinds whose index records true backgrounds, and the function that maps a
# free-text phrase to one of their canonical names (imported only when asked for)
RESOLVERS = {"demo": "clipmend.demo.textures:resolve_background"}


def background_resolver(kind: str) -> Callable[[str], str]:
    """The phrase resolver of data-set kind ``kind`` (the normalised phrase where it has none)."""
    if kind not in RESOLVERS:
        return normalize_phrase
    module, name = RESOLVERS[kind].split(":")
    return getattr(importlib.import_module(module), name)


ACCURACY_COLUMNS = ["model", "part", "accuracy", "n"]


def assignment_accuracy(assignments: Mapping[str, pd.DataFrame], index: pd.DataFrame,
                        resolve: Callable[[str], str] = normalize_phrase) -> pd.DataFrame:
    """Per model and part, the share of failures whose assigned background is the true one.

    The true background is the canonical name in the index; an assigned phrase counts
    as correct when ``resolve`` maps it to that name (the data set's resolver, see
    ``background_resolver``; by default the normalised phrase itself).
    A data set that records no true backgrounds (only the demo does) gives an empty table:
    the accuracy is a measurement where there is ground truth, not a step of the loop.
    """
    if "background" not in index.columns or index["background"].isna().all():
        log.warning(
            "the data set records no true backgrounds: CLIP's assignment accuracy is not "
            "measured (the table has no rows)"
        )
        return pd.DataFrame(columns=ACCURACY_COLUMNS)
    truth = index.set_index("id")["background"]
    rows = []
    for model, table in assignments.items():
        assigned = table.dropna(subset=["background"])
        true = truth.loc[assigned["id"]].to_numpy()
        hit = [_resolves_to(b, t, resolve) for b, t in zip(assigned["background"], true)]
        assigned = assigned.assign(correct=hit)
        for part, group in [("all", assigned), *assigned.groupby("part")]:
            rows.append((model, part, float(group["correct"].mean()) if len(group) else float("nan"), len(group)))
    return pd.DataFrame(rows, columns=ACCURACY_COLUMNS)


def _resolves_to(phrase: str, truth: str, resolve: Callable[[str], str]) -> bool:
    try:
        return resolve(phrase) == truth
    except ValueError:  # a phrase naming no known background is simply not the true one
        return False
