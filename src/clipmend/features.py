"""Feature extraction, and compact feature tables (float16 fixed-size lists in parquet)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm import tqdm

from clipmend.batching import batched_tensors, default_workers
from clipmend.io import write_with

log = logging.getLogger(__name__)


def resolve_device(device: str) -> torch.device:
    """``auto`` picks CUDA when present; otherwise the named device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be one of auto, cpu, cuda; got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but no CUDA GPU is available")
    return torch.device(device)


@torch.no_grad()
def extract(encode, transform, refs: Sequence[str], batch_size: int = 128,
            device: str = "auto", desc: str = "features", workers: int | None = None) -> np.ndarray:
    """Run ``encode`` over the referenced images; return float32 (N, D) features.

    On CUDA the forward runs under autocast (mixed precision). ``workers`` decoding
    processes (None: ``default_workers()``) overlap decoding with the forward; rows of
    ``.npy`` arrays that need no resizing skip decoding (see ``clipmend.batching``).
    The features do not depend on the number of workers.
    """
    dev = resolve_device(device)
    use_amp = dev.type == "cuda"
    workers = default_workers() if workers is None else workers
    out = []
    bar = tqdm(total=len(refs), desc=desc, unit="img", mininterval=5)
    for batch in batched_tensors(refs, transform, batch_size, workers):
        with torch.autocast(dev.type, enabled=use_amp):
            feats = encode(batch.to(dev, non_blocking=True))
        out.append(feats.float().cpu().numpy())
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


def read_features(path: str | Path, splits: Sequence[str] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a feature table; return ``(meta DataFrame, float32 (N, D) features)``."""
    filters = [("split", "in", list(splits))] if splits is not None else None
    table = pq.read_table(path, filters=filters)
    col = table.column("feature").combine_chunks()
    dim = col.type.list_size
    feats = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, dim)
    meta = table.drop(["feature"]).to_pandas()
    return meta, feats
