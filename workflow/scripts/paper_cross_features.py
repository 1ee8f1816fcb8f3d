"""A target model's features of every other generated set (other models' and families' sets).

Images are keyed by content, so sets overlap: features the target already has (its own
individual and random sets) are reused, and every other image is extracted once.
"""

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from clipmend.features import extract, read_features, write_features
from clipmend.logs import to_file
from clipmend.models import ModelSpec, create_backbone
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
run = RunSettings.from_config(snakemake.config)
known = {}
for path in snakemake.input.own:
    meta, features = read_features(path)
    known.update(zip(meta["id"], features))
manifests = {s: pd.read_parquet(p)
             for s, p in zip(snakemake.params.sources, snakemake.input.manifests)}
images = pd.concat(manifests.values())[["id", "image"]].drop_duplicates("id")
todo = images[~images["id"].isin(known.keys())]
logging.info("%d sets, %d distinct images, %d with features already, %d to extract",
             len(manifests), len(images), len(images) - len(todo), len(todo))
if len(todo):
    spec = ModelSpec.from_config(snakemake.wildcards.model, snakemake.params.model)
    classes = json.loads(open(snakemake.input.classes).read())
    backbone = create_backbone(spec, len(classes), snakemake.input.get("weights") or None, run.device)
    features = extract(backbone.features, backbone.transform, todo["image"].tolist(),
                       run.feature_batch_size, run.device, desc=spec.name, module=backbone.model)
    known.update(zip(todo["id"], features))
out = Path(snakemake.output.features)
out.mkdir(parents=True, exist_ok=True)
for source, manifest in manifests.items():
    rows = [known[i] for i in manifest["id"]]
    features = np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
    write_features(manifest[["id", "label"]], features, out / f"{source}.parquet")
