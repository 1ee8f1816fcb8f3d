"""Feature extraction, and compact feature tables (float16 fixed-size lists in parquet)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from clipmend import _torchvision_fix  # noqa: F401  (before timm/open_clip/diffusers import torchvision)
from clipmend.data.image_batches import batched_tensors, default_workers
from clipmend.devices import check_placement, resolve_device, to_numpy
from clipmend.io import reading, write_with
from clipmend.progress import ProgressBar
from clipmend.provenance import parquet_metadata
from clipmend.run_settings import RunSettings

log = logging.getLogger(__name__)


AUTOCAST = {"bfloat16": torch.bfloat16, "float16": torch.float16}
FEATURE_DTYPES = ("auto", "float32", *AUTOCAST)


def autocast_dtype(device: str | torch.device, dtype: str = "auto") -> str | None:
    """The autocast dtype extraction runs under on ``device`` with ``features.dtype`` = ``dtype``
    (None: full float32): ``auto`` is float16 on CUDA and none elsewhere."""
    if dtype not in FEATURE_DTYPES:
        raise ValueError(f"features.dtype is {dtype!r}; valid: {list(FEATURE_DTYPES)}")
    if dtype == "auto":
        return "float16" if resolve_device(device).type == "cuda" else None
    return None if dtype == "float32" else dtype


def _autocast(dtype: str, dev: torch.device) -> contextlib.AbstractContextManager:
    """The forward's autocast context (``autocast_dtype``)."""
    amp = autocast_dtype(dev, dtype)
    return torch.autocast(dev.type, dtype=AUTOCAST[amp]) if amp else contextlib.nullcontext()


def batch_size_for(run: RunSettings, entry: dict) -> int:
    """The run's ``features.batch_size``, or (``auto``) the largest that fits the device for this model.

    ``auto``: ``clipmend.cost.auto_batch_size`` with the architecture's memory model, for the
    card's total memory (``torch.cuda.mem_get_info``; the forward runs under autocast) or, on
    the CPU, the host budget ``memory.host_gb`` (float32 activations).
    """
    if run.feature_batch_size:
        return run.feature_batch_size
    from clipmend import cost

    dev = resolve_device(run.device)
    if dev.type == "cuda":
        return cost.auto_batch_size(entry, torch.cuda.mem_get_info(dev)[1] / cost.GB, value_bytes=2)
    return cost.auto_batch_size(entry, run.host_memory_gb, value_bytes=4)


@torch.no_grad()
def extract(encode, transform, refs: Sequence[str], batch_size: int = 128,
            device: str | torch.device = "auto", desc: str = "features", workers: int | None = None,
            module: torch.nn.Module | None = None, dtype: str = "auto", channels_last: bool = False,
            compile: bool = False) -> np.ndarray:
    """Run ``encode`` over the referenced images; return float32 (N, D) features.

    Batches go to ``device``; ``module`` (the model behind ``encode``) must already be
    there, or a ``PlacementError`` says so before the first batch. On CUDA the forward
    runs under autocast (mixed precision). ``workers`` decoding processes (None:
    ``default_workers()``) overlap decoding with the forward; rows of ``.npy`` arrays
    that need no resizing skip decoding (see ``clipmend.data.image_batches``). The features do
    not depend on the number of workers.

    Run settings (config ``features.dtype``, ``.channels_last``, ``.compile``): ``dtype``
    the forward's autocast (``auto``: float16 on CUDA, none on the CPU; ``float32``: none;
    ``bfloat16``, ``float16``: autocast to it on any device), ``channels_last`` the memory
    format of ``module`` and the batches, ``compile`` ``torch.compile`` of ``encode``. They
    change the features by float rounding only (tests/unit/test_run_speedups.py).
    """
    dev = resolve_device(device)
    if module is not None:
        check_placement(module, dev, desc)
        if channels_last:
            module.to(memory_format=torch.channels_last)
    autocast = _autocast(dtype, dev)
    if compile:
        encode = torch.compile(encode)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    workers = default_workers(dev) if workers is None else workers
    out = []
    bar = ProgressBar(total=len(refs), desc=desc, unit="img", mininterval=5)
    for batch in batched_tensors(refs, transform, batch_size, workers):
        with autocast:
            feats = encode(batch.to(dev, non_blocking=True).contiguous(memory_format=memory_format))
        out.append(to_numpy(feats.float()))
        bar.update(len(batch))
    bar.close()
    if not out:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(out)


def write_features(meta: pd.DataFrame, features: np.ndarray, path: str | Path,
                   provenance: dict | None = None) -> None:
    """Write ``meta`` columns plus a float16 ``feature`` column to parquet, atomically, with
    how they were made (``clipmend.provenance``) where given."""
    if len(meta) != len(features):
        raise ValueError(f"{len(meta)} rows of metadata but {len(features)} feature vectors")
    dim = features.shape[1] if features.ndim == 2 else 0
    flat = pa.array(np.ascontiguousarray(features, dtype=np.float16).reshape(-1))
    table = pa.Table.from_pandas(meta.reset_index(drop=True), preserve_index=False)
    table = table.append_column("feature", pa.FixedSizeListArray.from_arrays(flat, dim))
    if provenance is not None:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               **parquet_metadata(provenance)})
    write_with(path, lambda tmp: pq.write_table(table, tmp))


def read_features(path: str | Path, splits: Sequence[str] | None = None,
                  dtype: type = np.float32) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a feature table; return ``(meta DataFrame, (N, D) features)``, float32 by default.

    ``dtype=np.float16`` keeps the stored values at half the memory (exactly the same values).
    """
    filters = [("split", "in", list(splits))] if splits is not None else None
    with reading(path):
        table = pq.read_table(path, filters=filters)
    col = table.column("feature").combine_chunks()
    dim = col.type.list_size
    feats = col.flatten().to_numpy(zero_copy_only=False).astype(dtype, copy=False).reshape(-1, dim)
    meta = table.drop(["feature"]).to_pandas()
    return meta, feats
