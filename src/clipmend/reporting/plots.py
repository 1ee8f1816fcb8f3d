"""The paper's figures (2-6) with matplotlib's Agg backend; each writes one PNG atomically."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from PIL import Image  # noqa: E402

from clipmend.data.images import load_image  # noqa: E402
from clipmend.debugging.collective import Source  # noqa: E402
from clipmend.evaluation.iou import family_order  # noqa: E402
from clipmend.io import write_with  # noqa: E402

DPI = 120
PERCENT_FROM = 16  # heatmaps with more rows or columns than this write cell values in %
STRATEGY_LABELS = {
    "collective_family": "type 1 (family pool)",
    "collective_single": "type 2 (one model)",
}
SPLIT_TITLES = {"test": "test", "debug_seed": "debug_seed", "debug_heldout": "debug_heldout"}


def save_png(fig: plt.Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG atomically, close it, return the path."""
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight"))
    plt.close(fig)
    return Path(path)


def _groups(labels: Sequence[str]) -> list[tuple[str, int, int]]:
    """Runs of equal labels as (label, first position, end position)."""
    runs: list[tuple[str, int, int]] = []
    for i, label in enumerate(labels):
        if runs and runs[-1][0] == label:
            runs[-1] = (label, runs[-1][1], i + 1)
        else:
            runs.append((label, i, i + 1))
    return runs


def _annotated_image(
    ax: plt.Axes, values: np.ndarray, vmin: float, vmax: float, cmap: str = "viridis"
):
    """Heatmap of ``values`` with each cell's value written in it (in % once cells get small)."""
    image = ax.imshow(
        values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest"
    )
    percent = max(values.shape) > PERCENT_FROM
    size = float(np.clip(130 / max(values.shape), 5, 9))
    middle = (vmin + vmax) / 2
    for (r, c), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(
                c,
                r,
                f"{100 * v:.0f}" if percent else f"{v:.2f}",
                ha="center",
                va="center",
                fontsize=size,
                color="white" if v < middle else "black",
            )
    return image


def _family_axis(ax: plt.Axes, families: Sequence[str], axis: str) -> None:
    """Family separators across the heatmap along ``axis``; for x, family names along the top."""
    runs = _groups(families)
    for _, start, _end in runs[1:]:
        (ax.axhline if axis == "y" else ax.axvline)(start - 0.5, color="white", linewidth=2.5)
    centres = [(start + end - 1) / 2 for _, start, end in runs]
    if axis == "x":
        top = ax.secondary_xaxis("top")
        top.set_xticks(centres, [f for f, _, _ in runs], fontsize=9, fontweight="bold")
        top.tick_params(length=0)


def plot_iou_heatmap(
    iou: pd.DataFrame,
    families: Mapping[str, str],
    path: str | Path,
    title: str = "Failure IoU (intersection / union) on the debug set",
) -> Path:
    """Figure 4: the annotated IoU matrix, models grouped by family, with family separators."""
    order = family_order(iou.index, families)
    values = iou.loc[order, order].to_numpy(dtype=float)
    side = max(5.0, 0.42 * len(order) + 2)
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    image = _annotated_image(ax, values, 0.0, 1.0)
    ax.set_xticks(range(len(order)), order, rotation=90, fontsize=8)
    ax.set_yticks(range(len(order)), order, fontsize=8)
    fam = [families[m] for m in order]
    _family_axis(ax, fam, "x")
    _family_axis(ax, fam, "y")
    percent = " (cells in %)" if len(order) > PERCENT_FROM else ""
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=f"IoU{percent}")
    ax.set_title(title, pad=28)
    return save_png(fig, path)


def matrix_table(matrix: pd.DataFrame, split: str) -> pd.DataFrame:
    """Targets × source labels for one split: individual sources in target order, then pools."""
    rows = matrix[matrix["split"] == split]
    if rows.empty:
        raise ValueError(
            f"the collective matrix has no {split!r} rows; splits: {sorted(set(matrix['split']))}"
        )
    families = rows.drop_duplicates("target").set_index("target")["target_family"].to_dict()
    targets = family_order(families, families)
    labels = [
        Source(n, k, f).label
        for n, k, f in zip(rows["source"], rows["source_kind"], rows["source_family"])
    ]
    table = rows.assign(label=labels).pivot_table(
        index="target", columns="label", values="accuracy"
    )
    own = [t for t in targets if t in table.columns]
    pooled = [Source(f, "family", f).label for f in dict.fromkeys(families[t] for t in targets)]
    other = sorted(set(table.columns) - set(own) - set(pooled))
    return table.reindex(
        index=targets, columns=own + other + [p for p in pooled if p in table.columns]
    )


def plot_collective_matrix(
    matrix: pd.DataFrame, path: str | Path, splits: Sequence[str] = ("debug_heldout", "test")
) -> Path:
    """Accuracy of each target's head (rows) trained with each source's set (columns), per split."""
    tables = [matrix_table(matrix, split) for split in splits]
    families = matrix.drop_duplicates("target").set_index("target")["target_family"].to_dict()
    n_rows, n_cols = tables[0].shape
    width, height = max(5.0, 0.5 * n_cols + 2.5), max(4.0, 0.45 * n_rows + 2)
    fig, axes = plt.subplots(1, len(splits), figsize=(width * len(splits), height), squeeze=False)
    for ax, split, table in zip(axes[0], splits, tables):
        values = table.to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        image = _annotated_image(ax, values, float(finite.min()), float(finite.max()), cmap="magma")
        ax.set_xticks(range(n_cols), table.columns, rotation=90, fontsize=8)
        ax.set_yticks(range(n_rows), table.index, fontsize=8)
        ax.set_xlabel("source of the generated set")
        if ax is axes[0, 0]:
            ax.set_ylabel("target model (head retrained)")
        _family_axis(ax, [families[t] for t in table.index], "y")
        _family_axis(ax, [families[c] for c in table.columns if c in families], "x")
        pooled_from = sum(not str(c).endswith("(pooled)") for c in table.columns)
        ax.axvline(pooled_from - 0.5, color="white", linewidth=2.5)
        for r, target in enumerate(table.index):
            if target in table.columns:
                ax.add_patch(
                    Rectangle(
                        (table.columns.get_loc(target) - 0.5, r - 0.5),
                        1,
                        1,
                        fill=False,
                        edgecolor="cyan",
                        linewidth=2,
                        zorder=3,
                    )
                )
        ax.set_title(f"{SPLIT_TITLES.get(split, split)} accuracy (boxed: individual)", pad=24)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return save_png(fig, path)


def _plot_sweep(
    rows: pd.DataFrame,
    param: str,
    path: str | Path,
    xlabel: str,
    mark: float | None,
    splits: Sequence[str],
) -> Path:
    """Accuracy against ``param``: a panel column per family, a row per split, a line per model."""
    rows = rows[rows["param"] == param]
    if rows.empty:
        raise ValueError(f"no sweep rows for param {param!r}")
    missing = [s for s in splits if s not in set(rows["split"])]
    if missing:
        raise ValueError(f"sweep rows for {param!r} have no splits {missing}")
    families = rows.drop_duplicates("model").set_index("model")["family"].to_dict()
    models = family_order(families, families)
    fams = list(dict.fromkeys(families[m] for m in models))
    fig, axes = plt.subplots(
        len(splits),
        len(fams),
        figsize=(3.6 * len(fams) + 0.5, 2.9 * len(splits)),
        squeeze=False,
        sharex=True,
        sharey="row",
    )
    for c, family in enumerate(fams):
        for r, split in enumerate(splits):
            ax = axes[r, c]
            for model in (m for m in models if families[m] == family):
                line = rows[(rows["model"] == model) & (rows["split"] == split)].sort_values(
                    "value"
                )
                ax.plot(line["value"], line["accuracy"], marker="o", markersize=3, label=model)
            if mark is not None:
                ax.axvline(mark, color="grey", linestyle=":", linewidth=1)
            ax.grid(alpha=0.3)
            if r == 0:
                ax.set_title(family)
                ax.legend(fontsize=7)
            if c == 0:
                ax.set_ylabel(f"{SPLIT_TITLES.get(split, split)} accuracy")
            if r == len(splits) - 1:
                ax.set_xlabel(xlabel)
    fig.tight_layout()
    return save_png(fig, path)


def plot_lambda_sweep(
    rows: pd.DataFrame,
    path: str | Path,
    mark: float | None = None,
    splits: Sequence[str] = ("test", "debug_heldout"),
) -> Path:
    """Figure 5a: test and heldout accuracy against λ, per family."""
    return _plot_sweep(rows, "lambda", path, "λ (weight of the generated data)", mark, splits)


def plot_k_sweep(
    rows: pd.DataFrame,
    path: str | Path,
    mark: float | None = None,
    splits: Sequence[str] = ("test", "debug_heldout"),
) -> Path:
    """Figure 5b: test and heldout accuracy against k (chosen backgrounds per class), per family."""
    return _plot_sweep(rows, "k", path, "k (backgrounds per class)", mark, splits)


def _bars(ax: plt.Axes, table: pd.DataFrame, models: Sequence[str], column: str) -> None:
    """Grouped bars of ``column``: one group per model, one bar per strategy."""
    strategies = list(dict.fromkeys(table["strategy"]))
    width = 0.8 / len(strategies)
    for i, strategy in enumerate(strategies):
        part = table[table["strategy"] == strategy].set_index("model")[column].reindex(models)
        ax.bar(
            np.arange(len(models)) + (i - (len(strategies) - 1) / 2) * width,
            part.to_numpy(dtype=float),
            width,
            label=STRATEGY_LABELS.get(strategy, strategy),
        )
    ax.set_xticks(range(len(models)), models, rotation=60, ha="right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def plot_relative_accuracy(
    relative: pd.DataFrame,
    path: str | Path,
    resolution: pd.DataFrame | None = None,
    paper_share: float = 0.75,
) -> Path:
    """Figure 6: collective over individual heldout accuracy, and the share of resolved failures."""
    families = relative.drop_duplicates("model").set_index("model")["family"].to_dict()
    models = family_order(families, families)
    panels = 1 if resolution is None else 2
    fig, axes = plt.subplots(
        1, panels, figsize=(max(6.0, 0.6 * len(models) + 2) * panels, 4.2), squeeze=False
    )
    ax = axes[0, 0]
    _bars(ax, relative, models, "relative")
    ax.axhline(1.0, color="black", linewidth=1)
    ax.set_ylim(
        0, max(1.0, float(np.nanmax(relative["relative"].to_numpy(dtype=float), initial=1.0))) * 1.2
    )
    ax.set_ylabel("collective / individual heldout accuracy")
    ax.set_title("Relative accuracy")
    ax.legend(fontsize=8, loc="upper right", ncols=2)
    if resolution is not None:
        ax = axes[0, 1]
        _bars(ax, resolution, models, "overlap")
        ax.axhline(
            paper_share, color="red", linestyle="--", linewidth=1, label=f"paper: {paper_share:.0%}"
        )
        ax.set_ylim(0, 1.2)
        ax.set_ylabel("share also resolved by collective")
        ax.set_title(
            "Failures resolved by individual debugging\nthat collective debugging also resolves"
        )
        ax.legend(fontsize=8, loc="upper right", ncols=3)
    fig.tight_layout()
    return save_png(fig, path)


def pick_gallery(
    assignments: pd.DataFrame, n: int, part: str | None = "debug_seed"
) -> pd.DataFrame:
    """Up to ``n`` failures for a gallery: per class, the one CLIP assigns most confidently."""
    rows = assignments.dropna(subset=["background"])
    if part is not None:
        rows = rows[rows["part"] == part]
    best = rows.sort_values(["score", "id"], ascending=[False, True]).drop_duplicates("label")
    return best.sort_values("label").head(n).reset_index(drop=True)


def failure_titles(failures: pd.DataFrame, class_names: Sequence[str]) -> list[str]:
    """Captions "true / predicted / background" for failure rows (label, pred, background)."""
    return [
        f"true: {class_names[t]}\npred: {class_names[p]}\nbg: {b}"
        for t, p, b in zip(failures["label"], failures["pred"], failures["background"])
    ]


def plot_failure_gallery(
    images: Sequence[Image.Image | np.ndarray],
    titles: Sequence[str],
    path: str | Path,
    ncols: int = 6,
    title: str = "Failures and the backgrounds CLIP assigns them",
) -> Path:
    """Figure 3: failure images in a grid, each captioned with its true and predicted class."""
    if len(images) != len(titles):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    if not images:
        raise ValueError("no images for the gallery")
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(2.2 * ncols, 2.9 * nrows + 0.4), squeeze=False, layout="constrained"
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, caption in zip(axes.flat, images, titles):
        ax.imshow(np.asarray(image), interpolation="nearest")
        ax.set_title(caption, fontsize=8)
    fig.suptitle(title, fontsize=11)
    return save_png(fig, path)


def plot_generated_grid(
    manifest: pd.DataFrame,
    path: str | Path,
    classes: Sequence[str] | None = None,
    max_classes: int = 10,
    title: str = "Generated images per class and background",
) -> Path:
    """Figure 2: one generated image per (class, background): a row per class, a column per bg."""
    rows = manifest.assign(background=manifest["background"].fillna("(no background)"))
    present = list(dict.fromkeys(rows.sort_values("label", kind="stable")["class_name"]))
    if classes is None:
        classes = present[:max_classes]
    unknown = [c for c in classes if c not in present]
    if unknown:
        raise ValueError(f"classes {unknown} have no generated images; present: {present}")
    firsts = {c: rows[rows["class_name"] == c].drop_duplicates("background") for c in classes}
    ncols = max(len(f) for f in firsts.values())
    fig, axes = plt.subplots(
        len(classes),
        ncols,
        figsize=(1.9 * ncols + 0.8, 2.1 * len(classes) + 0.4),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat:
        ax.axis("off")
    for r, (class_name, first) in enumerate(firsts.items()):
        for c, (_, row) in enumerate(first.iterrows()):
            ax = axes[r, c]
            ax.imshow(np.asarray(load_image(row["image"])), interpolation="nearest")
            ax.set_title(row["background"], fontsize=8)
        axes[r, 0].text(
            -0.08,
            0.5,
            class_name,
            transform=axes[r, 0].transAxes,
            rotation=90,
            ha="right",
            va="center",
            fontsize=9,
            fontweight="bold",
        )
    fig.suptitle(title)
    return save_png(fig, path)
