"""The paper's table and figure steps, each runnable outside Snakemake: paths in, files out.

Figure 4 (``failure_iou``), the collective tables and Figure 6 (``collect_collective``),
Figure 5 (``collect_sweep``), Tables 1-3 (``paper_tables``), Figure 3 (``failure_gallery``)
and Figure 2 (``generated_grid``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from clipmend import provenance
from clipmend.config import parse_source
from clipmend.data.images import load_image
from clipmend.debugging.collective import overlap_summary, relative_accuracy
from clipmend.evaluation.iou import failure_iou as iou_matrix
from clipmend.evaluation.iou import family_order, iou_summary
from clipmend.io import read_csvs, read_json, read_parquet, write_csv
from clipmend.reporting import generation, plots, tables

log = logging.getLogger(__name__)

PathLike = str | Path


def failure_iou(failures: Sequence[PathLike], iou_out: PathLike, summary_out: PathLike,
                png_out: PathLike, dataset: str, models: Sequence[str],
                families: Mapping[str, str]) -> pd.DataFrame:
    """Figure 4: IoU of every model pair's debug-set failures, and its within/across-family means."""
    models, families = list(models), dict(families)
    found = {m: read_parquet(p, columns=["id"]) for m, p in zip(models, failures)}
    iou = iou_matrix(found, family_order(models, families))
    summary = iou_summary(iou, families)
    log.info("failure IoU:\n%s\n%s", iou.round(3).to_string(), summary.to_string(index=False))
    write_csv(iou.reset_index(), iou_out)
    write_csv(summary, summary_out)
    title = f"{dataset}: failure IoU (intersection / union) on the debug set"
    plots.plot_iou_heatmap(iou, families, png_out, title=title)
    return iou


def collect_collective(metrics: PathLike, matrices: Sequence[PathLike],
                       collective: Sequence[PathLike], resolutions: Sequence[PathLike],
                       outputs: Mapping[str, PathLike], made_by: Sequence[PathLike] = ()) -> pd.DataFrame:
    """The collective matrix, metrics_all.csv, relative accuracy (Figure 6) and resolved overlap.

    ``outputs``: paths by name (matrix, matrix_png, metrics, relative, relative_png, overlap,
    overlap_summary). ``made_by``: the outputs the rows come from (every model's
    ``debug_heads.pt`` and cross features); their provenance must agree.
    """
    provenance.check_files(made_by)
    matrix = read_csvs(matrices)
    all_metrics = pd.concat([pd.read_csv(metrics), read_csvs(collective)], ignore_index=True)
    resolution = read_csvs(resolutions)
    relative = relative_accuracy(all_metrics)
    summary = overlap_summary(resolution)
    log.info("resolved overlap:\n%s", summary.to_string(index=False))
    write_csv(matrix, outputs["matrix"])
    write_csv(all_metrics, outputs["metrics"])
    write_csv(relative, outputs["relative"])
    write_csv(resolution, outputs["overlap"])
    write_csv(summary, outputs["overlap_summary"])
    plots.plot_collective_matrix(matrix, outputs["matrix_png"])
    plots.plot_relative_accuracy(relative, outputs["relative_png"], resolution)
    return all_metrics


def collect_sweep(sweeps: Sequence[PathLike], table_out: PathLike, png_out: PathLike,
                  sweep: str, mark: float) -> pd.DataFrame:
    """All models' λ or k sweep (``sweep``) in one table, and Figure 5 (a panel column per family)."""
    rows = read_csvs(sweeps)
    write_csv(rows, table_out)
    plot = plots.plot_lambda_sweep if sweep == "lambda" else plots.plot_k_sweep
    plot(rows, png_out, mark=mark)
    return rows


def paper_tables(backgrounds: PathLike, classes: PathLike, metrics: PathLike,
                 stems: Mapping[str, PathLike], dataset: str, head: Mapping[str, Any],
                 generator: Mapping[str, Any]) -> None:
    """Tables 1 (backgrounds), 2/6 (individual vs random), 3 (collective) and the experiments table.

    ``stems``: for table1, table2, table3 and experiments, the path without extension of its
    .csv, .md and .tex files.
    """
    class_names = read_json(classes)
    proposal = read_json(backgrounds)
    table = pd.read_csv(metrics)
    params = tables.strategy_params({"head": head, "generator": generator})
    made = {
        "table1": (tables.table_backgrounds(proposal, class_names),
                   f"{dataset}: uncommon backgrounds per class proposed by the LLM"),
        "table2": (tables.table_individual(table),
                   f"{dataset}: individual debugging against random debugging"),
        "table3": (tables.table_collective(table),
                   f"{dataset}: collective debugging, type 1 (family pool) and type 2 (one model)"),
        "experiments": (tables.experiments_table(table, params), f"{dataset}: every experiment"),
    }
    for name, (frame, caption) in made.items():
        tables.write_table(frame, str(stems[name]), caption=caption)


def failure_gallery(assignments: PathLike, index: PathLike, classes: PathLike, png_out: PathLike,
                    model: str, n: int) -> None:
    """Figure 3 for one model: failures per class with true/predicted class and CLIP's background."""
    class_names = read_json(classes)
    picked = plots.pick_gallery(read_parquet(assignments), n)
    refs = read_parquet(index, columns=["id", "image"]).set_index("id")["image"]
    images = [load_image(refs[i]) for i in picked["id"]]
    plots.plot_failure_gallery(images, plots.failure_titles(picked, class_names), png_out,
                               title=f"{model}: failures and their CLIP backgrounds")


def generated_grid(manifest: PathLike, png_out: PathLike, source: str) -> None:
    """Figure 2 for one generated set (``model-X`` or ``family-F``): a class per row, a background per column."""
    kind, name = parse_source(source)
    what = f"{name}'s individual set" if kind == "model" else f"family {name}'s pooled set"
    plots.plot_generated_grid(read_parquet(manifest), png_out, title=f"Generated images: {what}")


def filter_quality(manifests: Sequence[PathLike], table_out: PathLike, grid_out: PathLike) -> None:
    """``filter_quality.csv`` (precision and recall of dropping a defective image) and the kept-vs-dropped grid."""
    generation.filter_quality(manifests, table_out)
    generation.filter_grid(manifests, grid_out)


def generation_variants(predictions: Sequence[PathLike], variants: Sequence[str], out: PathLike,
                        index: PathLike | None = None) -> pd.DataFrame:
    """``generation_variants.csv``: each variant's held-out gain and test accuracy with paired 95% intervals."""
    return generation.generation_variants(predictions, variants, out, index)
