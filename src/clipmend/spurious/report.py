"""The second paper's report: group metrics of every method, the comparison table, and its figures.

``group_comparison`` scores test predictions (both papers' methods) on (class, attribute)
groups and the coarse (class, common/uncommon) groups; ``write_comparison`` writes
comparison.csv/.md/.tex; ``seed_comparison`` the intervals over seeds and test images and the
paired differences; the plots are the dot-and-whisker of the intervals, the group accuracy
grid and the δ heat map of the detections (one panel per source family). Each PNG is written atomically (Agg backend).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from clipmend.data.registry import OBJECT_COLUMN  # noqa: E402
from clipmend.reporting.plots import save_png  # noqa: E402
from clipmend.reporting.tables import write_table  # noqa: E402
from clipmend.spurious import groups, intervals  # noqa: E402

log = logging.getLogger(__name__)

#: methods in table order, and the paper each comes from
METHOD_ORDER = {
    "zeroshot": "Yang et al.", "linear_probe": "Yang et al.", "finetune_clip": "Yang et al.",
    "ours_ls": "Yang et al.", "ours_vs": "Yang et al.",
    "original": "Chegini & Feizi", "baseline": "Chegini & Feizi", "random": "Chegini & Feizi",
    "individual": "Chegini & Feizi",
}
COMPARISON_COLUMNS = ["paper", "method", "model", "worst_group_accuracy", "worst_group", "average_accuracy",
                      "adjusted_accuracy", "coarse_worst_group_accuracy", "aiou", "aiou_worst_group"]
LONG_COLUMNS = ["method", "model", "grouping", "class_name", "attribute", "n", "correct", "accuracy"]
SEED_COLUMNS = ["method", "model", "metric", "mean", "ci_low", "ci_high", "n_seeds"]
PAIRED_COLUMNS = ["method_a", "method_b", "model", "metric", "mean_diff", "ci_low", "ci_high"]
#: the comparisons the papers claim: (method_a, method_b) compared on the same test images and seeds
CLAIMS = [("ours_ls", "finetune_clip"), ("ours_vs", "finetune_clip"), ("individual", "random")]
#: the first paper's strategies pooled over its models under this model name
ALL_MODELS = "all"
TEST_METRICS = ("worst_group_accuracy", "coarse_worst_group_accuracy", "average_accuracy")


def _sort(df: pd.DataFrame) -> pd.DataFrame:
    order = {m: i for i, m in enumerate(METHOD_ORDER)}
    key = df["method"].map(order).fillna(len(order))
    return df.assign(_k=key).sort_values(["_k", "model"], kind="stable").drop(columns="_k").reset_index(drop=True)


def group_comparison(predictions: pd.DataFrame, index: pd.DataFrame, class_names: Sequence[str],
                     aiou: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(long group metrics, one comparison row per method and model) on the test split."""
    test = predictions[predictions["split"] == "test"]
    skipped = test.groupby(["method", "model"])["pred"].apply(lambda p: bool((p < 0).all()))
    for method, model in skipped[skipped].index:
        log.info("%s on %s made no predictions (skipped for lack of groups): left out", method, model)
    test = test[~test.set_index(["method", "model"]).index.isin(skipped[skipped].index)]
    has_groups = "attribute" in index and index["attribute"].notna().any()
    long, rows = [], []
    if has_groups:
        train = index[index["split"] == "train"].copy()
        train["attribute"] = train["attribute"].astype(str)
        common = groups.common_attributes(train["label"].to_numpy(), train["attribute"].to_numpy())
        train["coarse"] = groups.coarse_groups(train["label"].to_numpy(), train["attribute"].to_numpy(), common)
        train_labels = train["label"].to_numpy()
        sizes = {g: groups.group_sizes(train_labels, train[g].to_numpy(), class_names) for g in ("attribute", "coarse")}
    for (method, model), frame in test.groupby(["method", "model"], sort=False):
        labels, preds = frame["label"].to_numpy(), frame["pred"].to_numpy()
        row = {"paper": METHOD_ORDER.get(method, ""), "method": method, "model": model,
               "average_accuracy": float((labels == preds).mean())}
        if has_groups:
            attributes = frame["attribute"].astype(str).to_numpy()
            for grouping, values in (("attribute", attributes),
                                     ("coarse", groups.coarse_groups(labels, attributes, common))):
                table = groups.group_accuracy(labels, preds, values, class_names)
                summary = groups.summarize(table, sizes[grouping])
                long.append(table.assign(method=method, model=model, grouping=grouping))
                if grouping == "attribute":
                    row.update(worst_group_accuracy=summary["worst_group_accuracy"],
                               worst_group=summary["worst_group"],
                               adjusted_accuracy=summary["adjusted_accuracy"])
                else:
                    row["coarse_worst_group_accuracy"] = summary["worst_group_accuracy"]
        rows.append(row | _aiou_summary(aiou, method, model, common if has_groups else None))
    long_df = pd.concat(long, ignore_index=True).reindex(columns=LONG_COLUMNS) if long \
        else pd.DataFrame(columns=LONG_COLUMNS)
    comparison = pd.DataFrame(rows).reindex(columns=COMPARISON_COLUMNS)
    return long_df, _sort(comparison) if len(comparison) else comparison


def _aiou_summary(aiou: pd.DataFrame | None, method: str, model: str,
                  common: Mapping[int, set] | None) -> dict[str, float]:
    """Mean AIoU of a method, and its lowest mean over the coarse (class, common/uncommon) groups.

    The paper's "worst-group" AIoU is over Waterbirds' 4 groups, which are the coarse ones;
    without recorded attributes, over classes.
    """
    if aiou is None or not len(aiou):
        return {}
    rows = aiou[(aiou["method"] == method) & (aiou["model"] == model)]
    if not len(rows):
        return {}
    keys = [rows["label"].to_numpy()]
    if common is not None and "attribute" in rows and rows["attribute"].notna().all():
        keys.append(groups.coarse_groups(rows["label"].to_numpy(), rows["attribute"].astype(str).to_numpy(), common))
    return {"aiou": float(rows["aiou"].mean()), "aiou_worst_group": float(rows["aiou"].groupby(keys).mean().min())}


def write_comparison(comparison: pd.DataFrame, stem: str | Path) -> list[Path]:
    """comparison.csv, .md and .tex."""
    return write_table(comparison, stem, precision=4,
                       caption="Both papers' methods on the same test groups (worst-group, average, "
                               "adjusted accuracy, AIoU)")


def _empty(path: str | Path, text: str) -> None:
    fig, ax = plt.subplots(figsize=(4, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center")
    save_png(fig, path)


def _first_paper(method: str) -> bool:
    return METHOD_ORDER.get(method, "").startswith("Chegini")


def _row_label(method: str, model: str) -> str:
    return f"{method} ({'mean of models' if model == ALL_MODELS else model})"


def plot_intervals(table: pd.DataFrame, path: str | Path) -> None:
    """Dot and whisker: each method's worst-group and average accuracy with its 95% interval.

    One row per method (the second paper's per CLIP model; the first paper's pooled over its
    models, with the spread of the per-model means as a grey bar behind), one panel per metric.
    """
    metrics = [("coarse_worst_group_accuracy", "worst group\n(class × common/uncommon)"),
               ("worst_group_accuracy", "worst group\n(class × attribute)"), ("average_accuracy", "average")]
    rows = table[table["metric"].isin([m for m, _ in metrics])] if len(table) else table
    if not len(rows):
        _empty(path, "no groups: no worst-group accuracy")
        return
    shown = rows[(rows["model"] == ALL_MODELS) | ~rows["method"].map(_first_paper)]
    labels = list(dict.fromkeys(map(_row_label, shown["method"], shown["model"])))
    y = {label: i for i, label in enumerate(labels)}
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics) + 2.2, 0.38 * len(labels) + 1.6),
                             sharey=True, squeeze=False)
    for ax, (metric, title) in zip(axes[0], metrics):
        for _, r in shown[shown["metric"] == metric].iterrows():
            at = y[_row_label(r["method"], r["model"])]
            members = rows[(rows["method"] == r["method"]) & (rows["metric"] == metric) & (rows["model"] != ALL_MODELS)]
            if r["model"] == ALL_MODELS and len(members):
                ax.plot([members["mean"].min(), members["mean"].max()], [at, at], color="0.8", lw=7,
                        solid_capstyle="butt", zorder=1)
            color = "tab:orange" if _first_paper(r["method"]) else "tab:blue"
            # the interval as drawn (a percentile interval need not contain the mean: a worst group is a minimum)
            ax.plot([r["ci_low"], r["ci_high"]], [at, at], color=color, lw=1.5, marker="|", ms=8, zorder=2)
            ax.plot(r["mean"], at, "o", color=color, zorder=3)
        ax.set_title(title, fontsize=9)
        ax.set_xlim(0, 1)
        ax.grid(axis="x", color="0.92")
        ax.set_xlabel("test accuracy")
    axes[0][0].set_yticks(range(len(labels)), labels, fontsize=8)
    axes[0][0].invert_yaxis()
    fig.suptitle("Mean over seeds with 95% interval (bootstrap over seeds and test images); "
                 "grey: spread over the first paper's models", fontsize=9)
    fig.tight_layout()
    save_png(fig, path)


def plot_group_grid(long: pd.DataFrame, path: str | Path) -> None:
    """Accuracy of every (class, attribute) group (columns) for every method and model (rows)."""
    fine = long[long["grouping"] == "attribute"]
    if not len(fine):
        _empty(path, "no groups")
        return
    grid = fine.assign(row=fine["method"] + " / " + fine["model"],
                       col=fine["class_name"] + " | " + fine["attribute"].astype(str))
    grid = grid.pivot_table(index="row", columns="col", values="accuracy", sort=False)
    fig, ax = plt.subplots(figsize=(max(6, 0.18 * grid.shape[1] + 3), max(3, 0.3 * grid.shape[0] + 1.5)))
    image = ax.imshow(grid.to_numpy(dtype=float), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_yticks(range(grid.shape[0]), grid.index, fontsize=7)
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=90, fontsize=5)
    ax.set_title("Test accuracy per group (class | attribute)")
    fig.colorbar(image, ax=ax, fraction=0.03)
    save_png(fig, path)


def plot_delta_heatmap(detections: pd.DataFrame, path: str | Path, families: Mapping[str, str] | None = None,
                       truth: Mapping[str, set[str]] | None = None) -> None:
    """δ per class and attribute, one panel per source family (its sources' mean δ); boxes: the true attribute.

    ``families`` maps a source to its family (sources not listed are their own family: the
    CLIP models); ``truth`` the class's over-represented attributes (outlined).
    """
    if not len(detections):
        _empty(path, "no detections")
        return
    families = dict(families or {})
    frame = detections.assign(family=[families.get(s, s) for s in detections["source"]],
                              attribute=detections["attribute"].astype(str))
    names = list(dict.fromkeys(frame["family"]))
    classes = sorted(frame["class_name"].unique())
    attributes = sorted(frame["attribute"].unique())
    cols = min(3, len(names))
    nrows = -(-len(names) // cols)
    width = max(3.2, 0.32 * len(attributes) + 2.0)
    fig, axes = plt.subplots(nrows, cols, figsize=(width * cols + 1, (0.3 * len(classes) + 1.6) * nrows),
                             squeeze=False)
    image = None
    for ax, family in zip(axes.flat, names):
        rows = frame[frame["family"] == family]
        grid = rows.pivot_table(index="class_name", columns="attribute", values="delta", aggfunc="mean")
        grid = grid.reindex(index=classes, columns=attributes)
        cmap = plt.get_cmap("RdBu_r").copy()
        cmap.set_bad("0.88")  # not among the source's top attributes
        image = ax.imshow(grid.to_numpy(dtype=float), vmin=-1, vmax=1, cmap=cmap, aspect="auto")
        for i, c in enumerate(classes):
            for v in (truth or {}).get(c, ()):
                if v in attributes:
                    ax.add_patch(plt.Rectangle((attributes.index(v) - 0.5, i - 0.5), 1, 1, fill=False, lw=1.5))
        members = sorted(rows["source"].unique())
        ax.set_title(f"{family} ({len(members)} source{'s' if len(members) > 1 else ''})", fontsize=9)
        ax.set_xticks(range(len(attributes)), attributes, rotation=90, fontsize=7)
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("δ = acc(attribute present) − acc(absent), mean over a family's sources; "
                 "box: the class's common attribute; grey: not detected", fontsize=9)
    fig.colorbar(image, ax=axes.ravel().tolist(), fraction=0.02)
    save_png(fig, path)


def _test_groups(index: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The test images (by id), each one's fine (class, attribute) group id, and each fine group's coarse group id."""
    train = index[index["split"] == "train"]
    common = groups.common_attributes(train["label"].to_numpy(), train["attribute"].astype(str).to_numpy())
    test = index[index["split"] == "test"].sort_values("id").reset_index(drop=True)
    labels, values = test["label"].to_numpy(), test["attribute"].astype(str).to_numpy()
    fine_keys = pd.Series(list(zip(labels, values)))
    names, fine = np.unique(fine_keys.astype(str), return_inverse=True)
    coarse = groups.coarse_groups(labels, values, common)
    coarse_keys = np.char.add(labels.astype(str), coarse.astype(str))
    coarse_names, coarse_ids = np.unique(coarse_keys, return_inverse=True)
    coarse_of = np.zeros(len(names), dtype=int)
    coarse_of[fine] = coarse_ids
    return test, fine, coarse_of


def _seed_estimates(columns: dict[tuple[str, str], list], counts: intervals.Replicates, draws: np.ndarray,
                    coarse_of: np.ndarray) -> dict[tuple[str, str, str], tuple[float, np.ndarray, int]]:
    """(mean over seeds, replicates, seeds) of each test metric of each (method, model)."""
    merged_obs, coarse_sizes = intervals.merge_groups(counts.observed, counts.sizes, coarse_of)
    merged_boot, _ = intervals.merge_groups(counts.replicates, counts.sizes, coarse_of)
    metrics = {
        "worst_group_accuracy": (intervals.worst_group(counts.observed, counts.sizes),
                                 intervals.worst_group(counts.replicates, counts.sizes)),
        "coarse_worst_group_accuracy": (intervals.worst_group(merged_obs, coarse_sizes),
                                        intervals.worst_group(merged_boot, coarse_sizes)),
        "average_accuracy": (intervals.average(counts.observed, counts.sizes),
                             intervals.average(counts.replicates, counts.sizes)),
    }
    out = {}
    for (method, model), cols in columns.items():
        for metric, (obs, boot) in metrics.items():
            mean, reps = intervals.seed_mean(obs[cols], boot[:, cols], draws)
            out[(method, model, metric)] = (mean, reps, len(cols))
    return out


def _heldout_estimates(heldout: pd.DataFrame, draws: np.ndarray, replicates: int,
                       rng: np.random.Generator) -> dict[tuple[str, str, str], tuple[float, np.ndarray, int]]:
    """Held-out gain (accuracy on debug_heldout minus the λ = 0 baseline's) per strategy and model."""
    out = {}
    for model, rows in heldout.groupby("model", sort=True):
        wide = rows.pivot_table(index="id", columns=["strategy", "seed"], values="pred", aggfunc="first")
        labels = rows.drop_duplicates("id").set_index("id")["label"].reindex(wide.index).to_numpy()
        if not len(wide) or "baseline" not in wide.columns.get_level_values(0):
            continue
        correct = wide.to_numpy() == labels[:, None]
        counts = intervals.resample_groups(correct, np.zeros(len(wide), dtype=int), replicates, rng)
        obs, boot = intervals.average(counts.observed, counts.sizes), intervals.average(counts.replicates, counts.sizes)
        strategies = wide.columns.get_level_values(0)
        base = int(np.flatnonzero(strategies == "baseline")[0])
        for strategy in ("random", "individual"):
            cols = np.flatnonzero(strategies == strategy)
            if len(cols):
                mean, reps = intervals.seed_mean(obs[cols] - obs[base], boot[:, cols] - boot[:, [base]], draws)
                out[(strategy, model, "heldout_gain")] = (mean, reps, len(cols))
    return out


def _pool_models(estimates: Mapping[tuple, tuple], methods: Sequence[str]) -> dict[tuple, tuple]:
    """Each first-paper strategy and metric averaged over its models (models fixed, replicates averaged)."""
    pooled = {}
    keys = {(m, metric) for m, _, metric in estimates if m in methods}
    for method, metric in sorted(keys):
        per_model = [v for (m, model, k), v in estimates.items() if m == method and k == metric and model != ALL_MODELS]
        pooled[(method, ALL_MODELS, metric)] = (float(np.mean([v[0] for v in per_model])),
                                                np.mean([v[1] for v in per_model], axis=0),
                                                min(v[2] for v in per_model))
    return pooled


def seed_comparison(predictions: pd.DataFrame, index: pd.DataFrame, heldout: pd.DataFrame | None = None,
                    replicates: int = intervals.REPLICATES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(comparison_seeds, paired): each method's mean and 95% interval per metric, and the claims' paired differences.

    ``predictions``: test predictions with method, model, seed, id, pred (every seed of every
    method on the same test images); ``heldout``: the first paper's debug_heldout predictions
    (model, strategy, seed, id, label, pred; with the λ = 0 baseline). Intervals: the paired
    bootstrap of ``clipmend.spurious.intervals``; the first paper's strategies also pooled over
    its models (model ``all``: the mean over models, models held fixed).
    """
    if not has_groups(index):
        return pd.DataFrame(columns=SEED_COLUMNS), pd.DataFrame(columns=PAIRED_COLUMNS)
    test, fine, coarse_of = _test_groups(index)
    preds = predictions[predictions["split"] == "test"] if "split" in predictions else predictions
    wide = preds.pivot_table(index="id", columns=["method", "model", "seed"], values="pred", aggfunc="first")
    wide = wide.reindex(test["id"])
    if wide.isna().any().any():
        missing = list(wide.columns[wide.isna().any()])[:3]
        raise ValueError(f"predictions lack some test images for {missing}; every method needs every test image")
    correct = wide.to_numpy() == test["label"].to_numpy()[:, None]
    rng = np.random.default_rng(0)
    counts = intervals.resample_groups(correct, fine, replicates, rng, **_object_clusters(test))
    columns: dict[tuple[str, str], list] = {}
    for k, (method, model, _) in enumerate(wide.columns):
        columns.setdefault((method, model), []).append(k)
    n_seeds = max(len(c) for c in columns.values())
    if heldout is not None and len(heldout):
        n_seeds = max(n_seeds, int(heldout.groupby(["model", "strategy"])["seed"].nunique().max()))
    draws = intervals.seed_draws(replicates, n_seeds, np.random.default_rng(1))
    estimates = _seed_estimates(columns, counts, draws, coarse_of)
    if heldout is not None and len(heldout):
        estimates |= _heldout_estimates(heldout, draws, replicates, rng)
    first_paper = [m for m in METHOD_ORDER if _first_paper(m)]
    estimates |= _pool_models(estimates, first_paper)
    rows = [{"method": m, "model": model, "metric": metric, "mean": v[0],
             **dict(zip(("ci_low", "ci_high"), intervals.interval(v[1]))), "n_seeds": v[2]}
            for (m, model, metric), v in estimates.items()]
    table = _sort(pd.DataFrame(rows, columns=SEED_COLUMNS))
    paired = []
    for a, b in CLAIMS:
        for (m, model, metric), (mean, reps, _) in estimates.items():
            other = estimates.get((b, model, metric))
            if m == a and other is not None and (model == ALL_MODELS or a not in first_paper):
                low, high = intervals.interval(reps - other[1])
                paired.append({"method_a": a, "method_b": b, "model": model, "metric": metric,
                               "mean_diff": mean - other[0], "ci_low": low, "ci_high": high})
    return table, pd.DataFrame(paired, columns=PAIRED_COLUMNS)


def _object_clusters(test: pd.DataFrame) -> dict[str, np.ndarray]:
    """``resample_groups``' clusters and strata of the test rows (``intervals.object_clusters``)."""
    return intervals.object_clusters(test[OBJECT_COLUMN] if OBJECT_COLUMN in test else None, test["label"])


def has_groups(index: pd.DataFrame) -> bool:
    """Whether the index records an attribute (so there are groups)."""
    return "attribute" in index and index["attribute"].notna().any()


def plot_redetect(table: pd.DataFrame, summary: pd.DataFrame, path: str | Path, strategy: str = "individual") -> None:
    """Per model, the change in |δ| of every class × attribute pair after debugging, with its 95% interval.

    Targeted pairs (the backgrounds debugged for) in blue above each model's line, the others
    below: grey, or red where the interval says their |δ| grew (Whac-A-Mole). The right margin
    counts targeted pairs that shrank and other pairs that grew.
    """
    rows = table[table["strategy"] == strategy] if len(table) else table
    if not len(rows):
        _empty(path, "no recorded attribute: nothing re-detected")
        return
    models = list(dict.fromkeys(rows["model"]))
    counts = summary[summary["strategy"] == strategy].set_index("model")
    fig, ax = plt.subplots(figsize=(8.5, 0.55 * len(models) + 1.8))
    for i, model in enumerate(models):
        mine = rows[rows["model"] == model]
        for targeted, offset in ((True, -0.17), (False, 0.17)):
            part = mine[mine["targeted"].astype(bool) == targeted]
            spread = np.linspace(-0.08, 0.08, len(part)) if len(part) > 1 else np.zeros(len(part))
            for (_, r), jitter in zip(part.iterrows(), spread):
                color = "tab:blue" if targeted else ("tab:red" if r["verdict"] == "grew" else "0.55")
                at = i + offset + jitter
                ax.plot([r["abs_change_low"], r["abs_change_high"]], [at, at], color=color, lw=0.8, alpha=0.7)
                ax.plot(r["abs_change"], at, "o" if targeted else "s", color=color, ms=3.5)
        if model in counts.index:
            c = counts.loc[model]
            ax.annotate(f"targeted shrank {c['targeted_shrank']}/{c['targeted_pairs']}, "
                        f"others grew {c['other_grew']}/{c['other_pairs']} "
                        f"(accuracy fell: {c['other_grew_acc_fell']})",
                        (1.01, i), xycoords=("axes fraction", "data"), va="center", fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(models)), models, fontsize=8)
    ax.set_ylim(len(models) - 0.5, -0.5)
    ax.set_xlabel("|δ| after − |δ| before (negative: the attribute matters less after the fix)")
    ax.grid(axis="x", color="0.92")
    handles = [plt.Line2D([], [], color="tab:blue", marker="o", ls="", label="targeted background"),
               plt.Line2D([], [], color="0.55", marker="s", ls="", label="other attribute"),
               plt.Line2D([], [], color="tab:red", marker="s", ls="", label="other attribute, |δ| grew")]
    ax.legend(handles=handles, fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, frameon=False)
    ax.set_title(f"Re-detection after {strategy} debugging: δ per class × attribute, test split "
                 "(mean over seeds, 95% interval)", fontsize=9, pad=22)
    save_png(fig, path)
