"""The data step of the workflow, runnable outside Snakemake: a data set's index and classes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clipmend.data.registry import prepare_dataset
from clipmend.io import write_json, write_parquet

log = logging.getLogger(__name__)


def prepare_data(index_out: str | Path, classes_out: str | Path, dataset: Mapping[str, Any]) -> None:
    """Build the data set of config entry ``dataset`` (kind, options) next to ``index_out``.

    ``dataset["manifest_check"]`` (quick, full, none; set for a tree made by ``snakemake
    prepare``): first check the tree against its manifest, so a truncated or edited image
    stops the build here.
    """
    manifest_check = dataset.get("manifest_check", "none")
    if manifest_check != "none":
        from clipmend.data.prepare.manifest import check_tree

        n = check_tree(dataset["options"]["root"], manifest_check)
        log.info("%s: %d files match the manifest (%s check)", dataset["options"]["root"], n, manifest_check)
    out_dir = Path(index_out).parent
    index, classes = prepare_dataset(dataset["kind"], out_dir, dataset.get("options", {}))
    write_json(classes, classes_out)
    write_parquet(index, index_out)
