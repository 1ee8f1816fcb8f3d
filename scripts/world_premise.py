"""Print the demo world's premise figures from demo runs: ``python scripts/world_premise.py RESULTS...``.

Each RESULTS is a run's ``results/demo`` folder (one per world seed). Per run: the coarse
test group sizes (class × common/uncommon background), each first-paper model's original
per-class test accuracy (worst class), and, where ``spurious`` ran, CLIP zero-shot test
accuracy on common vs uncommon backgrounds and detection precision@1. Over all runs: the
first paper's held-out gains over ``baseline`` (``individual`` vs ``random``) with a
paired 95% t-interval over every model × world seed of individual − 2 × random, and the
test accuracy of individual − baseline.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from clipmend.debugging.failures import failure_predictions
from clipmend.debugging.heads import read_head
from clipmend.models.features import read_features
from clipmend.spurious.groups import coarse_groups, common_attributes


def t_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t-interval of ``values``."""
    values = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return values.mean(), values.mean() - half, values.mean() + half


def coarse_of(index: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """"common"/"uncommon" of ``rows`` against the train split's over-represented backgrounds."""
    train = index[index["split"] == "train"]
    common = common_attributes(train["label"].to_numpy(), train["attribute"].to_numpy())
    return coarse_groups(rows["label"].to_numpy(), rows["attribute"].to_numpy(), common)


def premise(results: Path) -> list[str]:
    """One run's group sizes, models' per-class accuracy, CLIP zero-shot shortcut and detection."""
    index = pd.read_parquet(results / "data" / "index.parquet", columns=["id", "split", "label", "class_name",
                                                                          "attribute"])
    test = index[index["split"] == "test"].assign(coarse=lambda t: coarse_of(index, t))
    sizes = test.groupby(["class_name", "coarse"]).size()
    lines = [f"## {results}", f"coarse test groups: {len(sizes)}, sizes {sizes.min()}-{sizes.max()}"]
    metrics = pd.read_csv(results / "metrics.csv")
    for model in sorted(metrics["model"].unique()):
        meta, feats = read_features(results / model / "features.parquet", splits=["test"])
        head, source = read_head(results / model / "failure_head.pt")
        correct = failure_predictions(meta, feats, head[0], head[1], source) == meta["label"].to_numpy()
        rows = test.set_index("id").loc[meta["id"]]
        per_class = pd.Series(correct).groupby(rows["class_name"].to_numpy()).mean()
        groups = pd.Series(correct).groupby(rows["coarse"].to_numpy()).mean()
        on_common = pd.Series(correct[(rows["coarse"] == "common").to_numpy()]).groupby(
            rows.loc[rows["coarse"] == "common", "class_name"].to_numpy()).mean()
        lines.append(f"{model}: test {correct.mean():.3f}, worst class {per_class.idxmin()} {per_class.min():.3f}, "
                     f"best {per_class.idxmax()} {per_class.max():.3f}; common {groups['common']:.3f} "
                     f"(worst class {on_common.min():.3f}), uncommon {groups['uncommon']:.3f}")
    zeroshot = results / "spurious" / "clip" / "methods" / "zeroshot.parquet"
    if zeroshot.exists():
        pred = pd.read_parquet(zeroshot)
        pred = pred[pred["split"] == "test"].merge(test[["id", "coarse"]], on="id")
        acc = (pred["pred"] == pred["label"]).groupby(pred["coarse"]).mean()
        lines.append(f"CLIP zero-shot test: common {acc['common']:.3f}, uncommon {acc['uncommon']:.3f}, "
                     f"difference {acc['common'] - acc['uncommon']:.3f}")
        precision = pd.read_csv(results / "spurious" / "detect_precision.csv").set_index("source")
        lines.append("detection precision@1: " + ", ".join(
            f"{s} {p:.2f}" for s, p in precision["precision_at_1"].items()))
    return lines


def gains(runs: list[Path]) -> list[str]:
    """Held-out gains of individual and random over baseline, per run and pooled over model × run."""
    frames = []
    for run in runs:
        table = pd.read_csv(run / "metrics.csv").pivot_table(index="model", columns=["strategy", "split"],
                                                              values="accuracy")
        frames.append(pd.DataFrame({
            "run": str(run),
            "individual": table[("individual", "debug_heldout")] - table[("baseline", "debug_heldout")],
            "random": table[("random", "debug_heldout")] - table[("baseline", "debug_heldout")],
            "test": table[("individual", "test")] - table[("baseline", "test")],
        }))
    table = pd.concat(frames)
    lines = ["## held-out gain over baseline (mean over models)", "| run | individual | random | ratio | "
             "test: individual - baseline |", "| --- | --- | --- | --- | --- |"]
    for run, part in table.groupby("run", sort=False):
        lines.append(f"| {run} | {part['individual'].mean():.3f} | {part['random'].mean():.3f} | "
                     f"{part['individual'].mean() / part['random'].mean():.1f} | {part['test'].mean():+.3f} |")
    for name, values in (("individual - 2 x random", table["individual"] - 2 * table["random"]),
                         ("individual - random", table["individual"] - table["random"]),
                         ("test: individual - baseline", table["test"])):
        mean, low, high = t_interval(values.to_numpy())
        lines.append(f"{name}: {mean:+.3f} [{low:+.3f}, {high:+.3f}] (95% t, n={len(values)} model x seed)")
    return lines


def main(runs: list[Path]) -> str:
    lines = [line for run in runs for line in premise(run)]
    return "\n".join(lines + gains(runs))


if __name__ == "__main__":
    print(main([Path(p) for p in sys.argv[1:]] or [Path("results/demo")]))
