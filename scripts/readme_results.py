"""Print the README's results tables from a demo run: ``python scripts/readme_results.py [RESULTS]``.

RESULTS is a run's ``results/demo`` folder (default: ``results/demo``); the tables and the
sentences under them are pasted into README.md as printed, so no number there is typed by
hand. The second table (the second paper, target ``spurious``) is printed when
``RESULTS/spurious/comparison.csv`` exists, and the intervals over seeds and the paired
differences when ``comparison_seeds.csv`` and ``paired.csv`` do: a comparison reads "beats"
only where its paired 95% interval lies above 0 ("is beaten by" where below). The re-detection
after the fix (the Whac-A-Mole check) is printed when ``RESULTS/paper/redetect.csv`` exists.
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
        f"Against the baseline head (λ = 0), debugging with the backgrounds CLIP found changes "
        f"held-out failures' accuracy by {100 * (heldout['individual'] - heldout['baseline']):+.1f} points, "
        f"random debugging by {100 * (heldout['random'] - heldout['baseline']):+.1f} (its generated "
        f"images carry the demo generator's defects, unfiltered by default); CLIP "
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


METRICS = {"coarse_worst_group_accuracy": "worst group (class × common/uncommon)",
           "worst_group_accuracy": "worst group (class × attribute)", "average_accuracy": "average",
           "heldout_gain": "held-out gain"}


def _cell(row: pd.Series) -> str:
    return f"{row['mean']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def verdict(low: float, high: float) -> str:
    """"beats" only where the paired interval excludes 0 from below, "is beaten by" from above."""
    if low > 0:
        return "beats"
    if high < 0:
        return "is beaten by"
    return "does not differ detectably from"


def intervals(results: Path) -> str:
    """Means with 95% intervals over seeds and test images, and the claims' paired differences."""
    table = pd.read_csv(results / "spurious" / "comparison_seeds.csv")
    table = table[table["model"].eq("all") | ~table["method"].isin(["original", "baseline", "random", "individual"])]
    columns = [m for m in METRICS if m in set(table["metric"])]
    lines = ["| method | model | " + " | ".join(METRICS[m] for m in columns) + " | seeds |",
             "| --- | --- |" + " --- |" * (len(columns) + 1)]
    for (method, model), rows in table.groupby(["method", "model"], sort=False):
        rows = rows.set_index("metric")
        cells = [_cell(rows.loc[m]) if m in rows.index else "–" for m in columns]
        name = "mean of models" if model == "all" else model
        lines.append(f"| {method} | {name} | " + " | ".join(cells) + f" | {int(rows['n_seeds'].max())} |")
    paired = pd.read_csv(results / "spurious" / "paired.csv")
    lines += ["", "| comparison | metric | difference [95% CI] | reading |", "| --- | --- | --- | --- |"]
    for _, row in paired.iterrows():
        model = "mean of models" if row["model"] == "all" else row["model"]
        lines.append(f"| {row['method_a']} − {row['method_b']} ({model}) | {METRICS.get(row['metric'], row['metric'])} "
                     f"| {row['mean_diff']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}] "
                     f"| {row['method_a']} {verdict(row['ci_low'], row['ci_high'])} {row['method_b']} |")
    return "\n".join(lines)


def generation(results: Path) -> str:
    """The filter's precision and recall, and individual debugging per generation variant, with intervals."""
    paper = results / "paper"
    quality = pd.read_csv(paper / "filter_quality.csv").set_index("set")
    lines = ["| set | images | defective | dropped | precision | recall |", "| --- | --- | --- | --- | --- | --- |"]
    for name, row in quality.iterrows():
        lines.append(f"| {name} | {int(row['n_images'])} | {int(row['n_defective'])} | {int(row['n_dropped'])} "
                     f"| {row['precision']:.2f} | {row['recall']:.2f} |")
    variants = pd.read_csv(paper / "generation_variants.csv")
    lines += ["", "| variant | metric | mean [95% CI] | seeds |", "| --- | --- | --- | --- |"]
    for _, row in variants.iterrows():
        lines.append(f"| {row['variant']} | {row['metric']} | {_cell(row)} | {int(row['n_seeds'])} |")
    diff = variants.set_index(["variant", "metric"])
    if ("text+filter", "heldout_gain_vs_text") in diff.index:
        d = diff.loc[("text+filter", "heldout_gain_vs_text")]
        lines += ["", f"Held-out gain of individual debugging, filtered − unfiltered (mean of models): "
                      f"{d['mean']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]: the filter "
                      f"{verdict(d['ci_low'], d['ci_high'])} no filter."]
    if ("edit", "heldout_gain_vs_text") in diff.index:
        d = diff.loc[("edit", "heldout_gain_vs_text")]
        bench = results.parent.parent / "benchmarks" / "runs" / results.name
        seconds = {rule: sum(pd.read_csv(b, sep="\t")["s"].sum() for b in bench.glob(pattern))
                   for rule, pattern in (("generate_images", "*/generate_images.tsv"),
                                         ("score_generated_images", "score_generated_images.tsv"),
                                         ("filter_images", "filter_images.tsv"),
                                         ("edit_images", "*/edit_images.tsv"))}
        filtering = seconds["score_generated_images"] + seconds["filter_images"]
        lines += ["", f"Held-out gain, edit − text (mean of models): {d['mean']:+.3f} [{d['ci_low']:+.3f}, "
                      f"{d['ci_high']:+.3f}]: editing the failures {verdict(d['ci_low'], d['ci_high'])} text-to-image "
                      f"generation. Wall time of the run's jobs: generate_images (text and random sets) "
                      f"{seconds['generate_images']:.0f} s; the filter {filtering:.0f} s "
                      f"({filtering / seconds['generate_images']:.0%} of generation: score_generated_images, "
                      f"once, {seconds['score_generated_images']:.0f} s, filter_images "
                      f"{seconds['filter_images']:.0f} s); edit_images {seconds['edit_images']:.0f} s."]
    return "\n".join(lines)


def redetect(results: Path) -> str:
    """Per model, targeted pairs whose |δ| shrank and other pairs whose |δ| grew (interval-decided)."""
    from clipmend.spurious.redetect import summarize

    table = pd.read_csv(results / "paper" / "redetect.csv")
    summary = summarize(table)
    lines = ["| model | targeted pairs: \\|δ\\| shrank | targeted: grew | other pairs: \\|δ\\| grew | "
             "of those, accuracy with it fell |", "| --- | --- | --- | --- | --- |"]
    mine = summary[summary["strategy"] == "individual"]
    for _, row in mine.iterrows():
        lines.append(f"| {row['model']} | {row['targeted_shrank']}/{row['targeted_pairs']} | {row['targeted_grew']} | "
                     f"{row['other_grew']}/{row['other_pairs']} | {row['other_grew_acc_fell']} |")
    control = summary[summary["strategy"] == "random"]
    lines += ["", f"After individual debugging, another attribute's |δ| grew (95% interval above 0) in "
              f"{int(mine['whac_a_mole'].sum())} of {len(mine)} models: {int(mine['other_grew'].sum())} of "
              f"{int(mine['other_pairs'].sum())} non-targeted class × attribute pairs, "
              f"{int(mine['other_grew_acc_fell'].sum())} of them with accuracy on that attribute falling too; "
              f"the targeted pairs' |δ| shrank in {int(mine['targeted_shrank'].sum())} of "
              f"{int(mine['targeted_pairs'].sum())} and grew in {int(mine['targeted_grew'].sum())}. "
              f"Random debugging (no target): another attribute's |δ| grew in {int(control['whac_a_mole'].sum())} "
              f"of {len(control)} models ({int(control['other_grew'].sum())} of {int(control['other_pairs'].sum())} "
              f"pairs)."]
    return "\n".join(lines)


if __name__ == "__main__":
    results = Path(sys.argv[1] if len(sys.argv) > 1 else "results/demo")
    print(main(results))
    if (results / "spurious" / "comparison.csv").exists():
        print()
        print(spurious(results))
    if (results / "spurious" / "paired.csv").exists():
        print()
        print(intervals(results))
    if (results / "paper" / "generation_variants.csv").exists():
        print()
        print(generation(results))
    if (results / "paper" / "redetect.csv").exists():
        print()
        print(redetect(results))
