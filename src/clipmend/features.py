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

from clipmend.images import load_image
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


def batched_tensors(refs: Sequence[str], transform, batch_size: int):
    """Yield preprocessed image batches (N, 3, H, W) in order."""
    for start in range(0, len(refs), batch_size):
        chunk = refs[start : start + batch_size]
        yield torch.stack([transform(load_image(r)) for r in chunk])


@torch.no_grad()
def extract(encode, transform, refs: Sequence[str], batch_size: int = 128,
            device: str = "auto", desc: str = "features") -> np.ndarray:
    """Run ``encode`` over the referenced images; return float32 (N, D) features."""
    dev = resolve_device(device)
    use_amp = dev.type == "cuda"
    out = []
    bar = tqdm(total=len(refs), desc=desc, unit="img", mininterval=5)
    for batch in batched_tensors(refs, transform, batch_size):
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
