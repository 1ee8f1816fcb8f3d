"""The data step of the workflow, runnable outside Snakemake: a data set's index and classes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clipmend.data.registry import prepare_dataset
from clipmend.io import write_json, write_parquet


def prepare_data(index_out: str | Path, classes_out: str | Path, dataset: Mapping[str, Any]) -> None:
    """Build the data set of config entry ``dataset`` (kind, options) next to ``index_out``."""
    out_dir = Path(index_out).parent
    index, classes = prepare_dataset(dataset["kind"], out_dir, dataset.get("options", {}))
    write_json(classes, classes_out)
    write_parquet(index, index_out)
