"""Summarise wall time per rule from the workflow's benchmark files.

Usage: python benchmarks/rule_times.py [benchmarks/runs] [--wall SECONDS]

Prints, per rule: jobs, total and mean wall seconds, CPU seconds, peak RSS; and the
share of the summed job time. ``--wall`` (the measured end-to-end time of the run)
adds the parallel speed-up: summed job time over wall time.
"""

import argparse
from pathlib import Path

import pandas as pd


def load(root: Path) -> pd.DataFrame:
    """One row per benchmark file, with the rule name taken from the file name."""
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        table = pd.read_csv(path, sep="\t")
        table["rule"] = path.stem
        table["job"] = str(path.relative_to(root))
        rows.append(table)
    if not rows:
        raise SystemExit(f"no benchmark files under {root}: run the workflow first")
    return pd.concat(rows, ignore_index=True)


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Per-rule totals, sorted by total wall time."""
    runs = runs.assign(rule=runs["rule"].str.replace(r"generated_features_.*", "generated_features", regex=True))
    table = runs.groupby("rule").agg(jobs=("s", "size"), total_s=("s", "sum"), mean_s=("s", "mean"),
                                     cpu_s=("cpu_time", "sum"), max_rss_mb=("max_rss", "max"))
    table["share"] = table["total_s"] / table["total_s"].sum()
    return table.sort_values("total_s", ascending=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default="benchmarks/runs", type=Path)
    parser.add_argument("--wall", type=float, help="measured wall seconds of the whole run")
    args = parser.parse_args()
    table = summarise(load(args.root))
    print(table.to_string(float_format=lambda v: f"{v:.2f}"))
    total = table["total_s"].sum()
    print(f"\nsummed job time: {total:.1f} s")
    if args.wall:
        print(f"wall time: {args.wall:.1f} s; parallel speed-up (job time / wall): {total / args.wall:.2f}")


if __name__ == "__main__":
    main()
