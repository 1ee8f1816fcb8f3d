"""Print the README's results tables from a demo run: ``python scripts/readme_results.py [RESULTS]``.

RESULTS is a run's ``results/demo`` folder (default: ``results/demo``); the tables and the
sentences under them are pasted into README.md as printed, so no number there is typed by
hand. The second table (the second paper, target ``spurious``) is printed when
``RESULTS/spurious/comparison.csv`` exists.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

SPLITS = ("test", "debug_seed", "debug_heldout")


def main(results: Path) -> str:
    """The markdown table of ``summary.csv`` and a sentence on gains and CLIP's accuracy."""
    summary = pd.read_csv(results / "summary.csv").set_index("strategy")
    lines = ["| strategy | " + " | ".join(SPLITS) + " |", "| --- |" + " --- |" * len(SPLITS)]
    for strategy, row in summary.iterrows():
        cells = [f"{row[s]:.3f}" if row[s] else "0" for s in SPLITS]
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    heldout = summary["debug_heldout"]
    accuracy = pd.read_csv(results / "clip_assignment_accuracy.csv")
    per_model = accuracy[accuracy["part"] == "all"]["accuracy"]
    lines += [
        "",
        f"Debugging with the backgrounds CLIP found lifts held-out failures by "
        f"{100 * (heldout['individual'] - heldout['baseline']):.1f} points, the random baseline by "
        f"{100 * (heldout['random'] - heldout['baseline']):.1f}, and test accuracy rises too; CLIP "
        f"names the true background of {100 * per_model.min():.1f}–{100 * per_model.max():.1f}% "
        f"of the failures.",
    ]
    return "\n".join(lines)


def spurious(results: Path) -> str:
    """Both papers on the same test groups: the second paper's methods, and the first's averaged over models."""
    table = pd.read_csv(results / "spurious" / "comparison.csv")
    columns = {"coarse_worst_group_accuracy": "worst group (class × common/uncommon)",
               "worst_group_accuracy": "worst group (class × background)", "average_accuracy": "average",
               "adjusted_accuracy": "adjusted", "aiou": "AIoU"}
    rows = table.groupby(["paper", "method"], sort=False)[list(columns)].mean()
    lines = ["| method | " + " | ".join(columns.values()) + " |", "| --- |" + " --- |" * len(columns)]
    for (paper, method), row in rows.iterrows():
        name = method if paper.startswith("Yang") else f"{method} (first paper, mean of {table['model'].nunique() - 1})"
        cells = ["–" if pd.isna(row[c]) else f"{row[c]:.3f}" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    precision = pd.read_csv(results / "spurious" / "detect_precision.csv").set_index("source")["precision_at_1"]
    models = precision.drop(index="clip", errors="ignore")
    lines += [
        "",
        f"Detection precision@1 (the top attribute is the class's common background): CLIP zero-shot "
        f"{precision.get('clip', float('nan')):.2f}, the first paper's models {models.min():.1f}–{models.max():.1f} "
        f"(mean {models.mean():.2f}).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    results = Path(sys.argv[1] if len(sys.argv) > 1 else "results/demo")
    print(main(results))
    if (results / "spurious" / "comparison.csv").exists():
        print()
        print(spurious(results))
