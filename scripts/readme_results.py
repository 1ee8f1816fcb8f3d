"""Print the README's results table from a demo run: ``python scripts/readme_results.py [RESULTS]``.

RESULTS is a run's ``results/demo`` folder (default: ``results/demo``); the table and the
sentence under it are pasted into README.md as printed, so no number there is typed by hand.
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


if __name__ == "__main__":
    print(main(Path(sys.argv[1] if len(sys.argv) > 1 else "results/demo")))
