"""The paper's tables (1, 2/6, 3) and an experiments table; CSV, Markdown and LaTeX writers.

Tables 2, 3 and 6 have rows (Model category, Model name) grouped by family and
two-level columns such as ("Accuracy of Individual Debugging (ours)", "Test").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clipmend.evaluation.iou import family_order
from clipmend.evaluation.metrics import SPLITS
from clipmend.io import write_with

ROW_NAMES = ["Model category", "Model name"]
SPLIT_LABELS = {"test": "Test", "debug_seed": "seed", "debug_heldout": "heldout"}
BEFORE = ("Accuracy before debugging", "Test")
BEFORE_STRATEGIES = ("original", "baseline")
INDIVIDUAL_GROUPS = (
    ("Accuracy of Individual Debugging (ours)", "individual"),
    ("Accuracy of Random debugging", "random"),
)
COLLECTIVE_GROUPS = (
    ("Accuracy of Collective Debugging-type 1 (ours)", "collective_family"),
    ("Accuracy of Collective Debugging-type 2 (ours)", "collective_single"),
)
STRATEGY_ORDER = (
    "original",
    "baseline",
    "random",
    "individual",
    "collective_family",
    "collective_single",
)
PARAM_COLUMNS = ("lambda", "k", "images_per_background", "generator", "epochs", "lr")


def table_backgrounds(
    backgrounds: Mapping[str, Any], classes: Sequence[str] | None = None, limit: int | None = None
) -> pd.DataFrame:
    """Table 1: the LLM's uncommon backgrounds per class (from ``backgrounds.json``)."""
    if "classes" not in backgrounds:
        raise ValueError(
            f"expected the backgrounds.json of propose_backgrounds (a 'classes' key); "
            f"got keys {sorted(backgrounds)}"
        )
    per_class = backgrounds["classes"]
    classes = list(per_class) if classes is None else list(classes)
    unknown = [c for c in classes if c not in per_class]
    if unknown:
        raise ValueError(f"classes {unknown} are not in backgrounds.json")
    rows = {c: ", ".join(per_class[c]["backgrounds"][:limit]) for c in classes}
    return pd.DataFrame({"Uncommon backgrounds": pd.Series(rows, dtype=object)}).rename_axis(
        "Class name"
    )


def strategy_table(
    metrics: pd.DataFrame,
    groups: Sequence[tuple[str, str]],
    before: Sequence[str] = BEFORE_STRATEGIES,
) -> pd.DataFrame:
    """Paper-style table: test accuracy before debugging, then Test/seed/heldout per strategy group.

    "Before debugging" is the first of ``before`` a model has (its own classifier, else
    the retrained head with λ = 0).
    """
    _check_single_dataset(metrics)
    dupes = metrics[metrics.duplicated(["model", "strategy", "split"], keep=False)]
    if len(dupes):
        raise ValueError(
            f"metrics repeat (model, strategy, split): "
            f"{dupes[['model', 'strategy', 'split']].drop_duplicates().values.tolist()}"
        )
    present = set(metrics["strategy"])
    absent = [s for _, s in groups if s not in present]
    if absent or not present & set(before):
        raise ValueError(
            f"metrics have no rows for strategies {absent or list(before)}; have {sorted(present)}"
        )
    families = metrics.drop_duplicates("model").set_index("model")["family"]
    models = family_order(families.index, families.to_dict())
    acc = metrics.set_index(["model", "strategy", "split"])["accuracy"]
    get = lambda m, s, split: acc.get((m, s, split), np.nan)  # noqa: E731
    columns = {
        BEFORE: [
            next((get(m, s, "test") for s in before if (m, s, "test") in acc.index), np.nan)
            for m in models
        ]
    }
    for title, strategy in groups:
        for split, label in SPLIT_LABELS.items():
            columns[(title, label)] = [get(m, strategy, split) for m in models]
    index = pd.MultiIndex.from_arrays([families[models].to_numpy(), models], names=ROW_NAMES)
    table = pd.DataFrame(columns, index=index)
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return table


def table_individual(metrics: pd.DataFrame) -> pd.DataFrame:
    """Tables 2 and 6: before; individual debugging and random debugging (Test, seed, heldout)."""
    return strategy_table(metrics, INDIVIDUAL_GROUPS)


def table_collective(metrics: pd.DataFrame) -> pd.DataFrame:
    """Table 3: before; collective debugging type 1 (family pool) and type 2 (representative)."""
    return strategy_table(metrics, COLLECTIVE_GROUPS)


def strategy_params(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Key parameters of each strategy from the workflow config's ``head`` and ``generator``."""
    head, gen = config["head"], config["generator"]
    trained = {"epochs": head["epochs"], "lr": head["lr"]}
    debug = {
        "lambda": head["lambda"],
        "k": gen["k"],
        "images_per_background": gen["images_per_background"],
        "generator": gen["backend"],
        **trained,
    }
    return {
        "original": {},
        "baseline": {"lambda": 0.0, **trained},
        "random": {"lambda": head["lambda"], "generator": gen["backend"], **trained},
        "individual": debug,
        "collective_family": debug,
        "collective_single": debug,
    }


def experiments_table(
    metrics: pd.DataFrame, params: Mapping[str, Mapping[str, Any]]
) -> pd.DataFrame:
    """One row per data set × model × strategy: its accuracies per split and key parameters."""
    wide = (
        metrics.pivot_table(
            index=["dataset", "model", "family", "strategy"],
            columns="split",
            values="accuracy",
            sort=False,
        )
        .reindex(columns=list(SPLITS))
        .reset_index()
        .rename_axis(columns=None)
    )
    datasets = list(dict.fromkeys(wide["dataset"]))
    families = wide.drop_duplicates("model").set_index("model")["family"].to_dict()
    models = family_order(families, families)
    strategies = [*STRATEGY_ORDER, *sorted(set(wide["strategy"]) - set(STRATEGY_ORDER))]
    rank = lambda values, order: values.map({v: i for i, v in enumerate(order)})  # noqa: E731
    wide = wide.sort_values(
        ["dataset", "model", "strategy"],
        kind="stable",
        key=lambda col: rank(
            col, {"dataset": datasets, "model": models, "strategy": strategies}[col.name]
        ),
    )
    names = [c for c in PARAM_COLUMNS if any(c in p for p in params.values())]
    names += sorted({c for p in params.values() for c in p} - set(names))
    for name in names:
        wide[name] = pd.Series(
            [params.get(s, {}).get(name) for s in wide["strategy"]], index=wide.index, dtype=object
        )
    return wide.reset_index(drop=True)


def write_table(
    df: pd.DataFrame, stem: str | Path, precision: int = 4, caption: str | None = None
) -> list[Path]:
    """Write ``stem.csv`` (flat header), ``stem.md``, ``stem.tex`` atomically; return the paths."""
    stem = Path(stem)
    paths = [stem.with_name(stem.name + ext) for ext in (".csv", ".md", ".tex")]
    flat = _flat(df)
    write_with(paths[0], lambda tmp: flat.to_csv(tmp, index=False))
    write_with(paths[1], lambda tmp: tmp.write_text(to_markdown(df, precision)))
    write_with(paths[2], lambda tmp: tmp.write_text(to_latex(df, precision, caption)))
    return paths


def to_markdown(df: pd.DataFrame, precision: int = 4) -> str:
    """A GitHub Markdown table: flat header, row groups shown once, numbers at fixed precision."""
    shown = _display(_flat(df), precision, na="–")
    if _has_index(df) and df.index.nlevels > 1:
        for level in range(df.index.nlevels - 1):
            col = shown.columns[level]
            keys = shown.iloc[:, : level + 1].apply(tuple, axis=1)
            shown.loc[keys.eq(keys.shift()), col] = ""
    numeric = [pd.api.types.is_numeric_dtype(t) for t in _flat(df).dtypes]
    cell = lambda v: str(v).replace("|", r"\|").replace("\n", " ")  # noqa: E731
    lines = [
        "| " + " | ".join(cell(c) for c in shown.columns) + " |",
        "|" + "|".join("---:" if num else ":---" for num in numeric) + "|",
    ]
    lines += [
        "| " + " | ".join(cell(v) for v in row) + " |" for row in shown.itertuples(index=False)
    ]
    return "\n".join(lines) + "\n"


def to_latex(df: pd.DataFrame, precision: int = 4, caption: str | None = None) -> str:
    """A booktabs LaTeX table, multi-column headers, multi-row groups (needs booktabs, multirow)."""
    shown = df.copy()
    for col in shown.columns:
        shown[col] = _display(shown[[col]], precision, na="--").iloc[:, 0]
    styler = shown.style.format(escape="latex").format_index(escape="latex", axis=0)
    styler = styler.format_index(escape="latex", axis=1)
    if not _has_index(df):
        styler = styler.hide(axis="index")
    n_index = df.index.nlevels if _has_index(df) else 0
    align = "l" * n_index + "".join(
        "r" if pd.api.types.is_numeric_dtype(t) else "l" for t in df.dtypes
    )
    return styler.to_latex(
        column_format=align,
        hrules=True,
        multicol_align="c",
        multirow_align="t",
        clines="skip-last;data" if n_index > 1 else None,
        caption=caption,
        position_float="centering" if caption else None,
        environment="table" if caption else None,
    )


def _check_single_dataset(metrics: pd.DataFrame) -> None:
    datasets = sorted(set(metrics["dataset"]))
    if len(datasets) != 1:
        raise ValueError(f"a paper table is for one data set; metrics have {datasets}")


def _has_index(df: pd.DataFrame) -> bool:
    return any(name is not None for name in df.index.names)


def _flat(df: pd.DataFrame) -> pd.DataFrame:
    """Index levels as leading columns; two-level column names joined by ': '."""
    out = df.reset_index() if _has_index(df) else df.reset_index(drop=True)
    if isinstance(out.columns, pd.MultiIndex):
        out.columns = [": ".join(str(p) for p in col if str(p)) for col in out.columns]
    return out


def _display(df: pd.DataFrame, precision: int, na: str) -> pd.DataFrame:
    """Every cell as text: floats in float columns at fixed precision, missing values as ``na``."""
    out = pd.DataFrame(index=df.index, columns=df.columns, dtype=object)
    for i, dtype in enumerate(df.dtypes):
        fixed = pd.api.types.is_float_dtype(dtype)
        out.iloc[:, i] = [
            na if _missing(v) else f"{v:.{precision}f}" if fixed else str(v) for v in df.iloc[:, i]
        ]
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
