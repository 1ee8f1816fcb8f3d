"""The CLIP steps of the workflow, each runnable outside Snakemake: paths in, files out.

``clip_debug_features`` embeds every debug-set image once; ``assign_backgrounds`` lets CLIP
pick, zero-shot, each failure's background among its class's backgrounds.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import torch

from clipmend import provenance
from clipmend.clip.assign import assign_backgrounds as assign
from clipmend.clip.loading import load_clip
from clipmend.data.registry import DEBUG_SPLIT
from clipmend.devices import resolve_device
from clipmend.io import read_json, read_parquet, write_parquet
from clipmend.models.features import autocast_dtype, batch_size_for, extract, read_features, write_features
from clipmend.run_settings import RunSettings, settled

log = logging.getLogger(__name__)

PathLike = str | Path


def clip_debug_features(index: PathLike, features_out: PathLike, arch: str, weights: str,
                        run: RunSettings | None = None, threads: int | None = None) -> None:
    """CLIP image embeddings of every debug-set image; all models' assignments share them.

    ``weights``: an open_clip pretrained tag or a checkpoint file.
    """
    run = settled(run)
    if threads:
        torch.set_num_threads(threads)
    clip = load_clip(arch, weights, run.device)
    images = read_parquet(index)
    debug = images[images["split"] == DEBUG_SPLIT].reset_index(drop=True)
    features = extract(clip.encode_images, clip.preprocess, debug["image"].tolist(),
                       batch_size_for(run, {"arch": arch}), run.device, desc="clip", module=clip.model)
    made = provenance.capture("clip_debug_features", clip.device, autocast=autocast_dtype(clip.device),
                              batch_sizes={"features": run.feature_batch_size})
    write_features(debug[["id", "label"]], features, features_out, made)


def assign_backgrounds(failures: PathLike, backgrounds: PathLike, classes: PathLike,
                       clip_features: PathLike, assignments_out: PathLike, arch: str, weights: str,
                       prompt: str, run: RunSettings | None = None) -> pd.DataFrame:
    """CLIP's background for each failure, among the backgrounds proposed for its class."""
    run = settled(run)
    found = read_parquet(failures)
    class_names = read_json(classes)
    proposal = read_json(backgrounds)
    per_class = {c: v["backgrounds"] for c, v in proposal["classes"].items()}
    made = provenance.capture("assign_backgrounds", resolve_device(run.device),
                              provenance.read_all([failures, clip_features]))
    meta, image_features = read_features(clip_features)
    rows = pd.Series(range(len(meta)), index=meta["id"]).loc[found["id"]].to_numpy()
    clip = load_clip(arch, weights, run.device)
    assignments = assign(found, image_features[rows], class_names, per_class, clip.encode_texts,
                         prompt)
    log.info("assigned %d failures; per part: %s", assignments["background"].notna().sum(),
             assignments["part"].value_counts().to_dict())
    assignments.attrs[provenance.KEY] = made
    write_parquet(assignments, assignments_out)
    return assignments
