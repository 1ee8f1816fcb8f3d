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
from tqdm import tqdm

from clipmend import _torchvision_fix  # noqa: F401  (before timm/open_clip/diffusers import torchvision)
from clipmend.data.image_batches import batched_tensors, default_workers
from clipmend.devices import check_placement, resolve_device, to_numpy
from clipmend.io import reading, write_with
from clipmend.run_settings import RunSettings

log = logging.getLogger(__name__)


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
            module: torch.nn.Module | None = None) -> np.ndarray:
    """Run ``encode`` over the referenced images; return float32 (N, D) features.

    Batches go to ``device``; ``module`` (the model behind ``encode``) must already be
    there, or a ``PlacementError`` says so before the first batch. On CUDA the forward
    runs under autocast (mixed precision). ``workers`` decoding processes (None:
    ``default_workers()``) overlap decoding with the forward; rows of ``.npy`` arrays
    that need no resizing skip decoding (see ``clipmend.data.image_batches``). The features do
    not depend on the number of workers.
    """
    dev = resolve_device(device)
    if module is not None:
        check_placement(module, dev, desc)
    use_amp = dev.type == "cuda"
    workers = default_workers(dev) if workers is None else workers
    out = []
    bar = tqdm(total=len(refs), desc=desc, unit="img", mininterval=5)
    for batch in batched_tensors(refs, transform, batch_size, workers):
        with torch.autocast("cuda") if use_amp else contextlib.nullcontext():
            feats = encode(batch.to(dev, non_blocking=True))
        out.append(to_numpy(feats.float()))
        bar.update(len(batch))
    bar.close()
    if not out:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(out)


def write_features(meta: pd.DataFrame, features: np.ndarray, path: str | Path) -> None:
    """Write ``meta`` columns plus a float16 ``feature`` column to parquet, atomically."""
    if len(meta) != len(features):
        raise ValueError(f"{len(meta)} rows of metadata but {len(features)} feature vectors")
    dim = features.shape[1] if features.ndim == 2 else 0
    flat = pa.array(np.ascontiguousarray(features, dtype=np.float16).reshape(-1))
    table = pa.Table.from_pandas(meta.reset_index(drop=True), preserve_index=False)
    table = table.append_column("feature", pa.FixedSizeListArray.from_arrays(flat, dim))
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
