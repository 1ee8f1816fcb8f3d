"""The evaluation steps of the workflow, each runnable outside Snakemake: paths in, files out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from clipmend import provenance
from clipmend.evaluation.assignment import assignment_accuracy as accuracy
from clipmend.evaluation.assignment import background_resolver
from clipmend.evaluation.metrics import summarise
from clipmend.io import read_csvs, read_parquet, write_csv

PathLike = str | Path


def collect_metrics(metrics: Sequence[PathLike], metrics_out: PathLike,
                    summary_out: PathLike, made_by: Sequence[PathLike] = ()) -> pd.DataFrame:
    """Every model's metrics in one table, and a per-strategy summary over models.

    ``made_by``: the outputs the metrics come from (``debug_heads.pt``); their provenance
    must agree (``clipmend.provenance.check``).
    """
    provenance.check_files(made_by)
    table = read_csvs(metrics)
    write_csv(table, metrics_out)
    write_csv(summarise(table), summary_out)
    return table


def assignment_accuracy(index: PathLike, assignments: Sequence[PathLike], models: Sequence[str],
                        table_out: PathLike, kind: str) -> pd.DataFrame:
    """How often CLIP's background is the failure's true one, per model (data-set ``kind``).

    Only an index that records true backgrounds (the demo's) gives rows.
    """
    columns = [c for c in ("id", "background") if c in pq.read_schema(index).names]
    truth = read_parquet(index, columns=columns)
    tables = {m: read_parquet(p) for m, p in zip(models, assignments)}
    table = accuracy(tables, truth, background_resolver(kind))
    write_csv(table, table_out)
    return table
