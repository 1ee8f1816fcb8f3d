"""Extract a model's features for every train, val and test image, and its own head."""

import json

import pandas as pd
import torch

from clipmend.features import extract, write_features
from clipmend.io import write_torch
from clipmend.logs import to_file
from clipmend.models import ModelSpec, create_backbone

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
spec = ModelSpec.from_config(snakemake.wildcards.model, snakemake.params.model)
classes = json.loads(open(snakemake.input.classes).read())
backbone = create_backbone(spec, len(classes), snakemake.input.get("weights") or None)
index = pd.read_parquet(snakemake.input.index)
index = index[index["split"].isin(["train", "val", "test"])].reset_index(drop=True)
features = extract(backbone.features, backbone.transform, index["image"].tolist(),
                   snakemake.params.batch_size, snakemake.params.device, desc=spec.name)
write_features(index[["id", "split", "label"]], features, snakemake.output.features)
head = backbone.classifier()
write_torch(None if head is None else {"weight": head[0], "bias": head[1]}, snakemake.output.classifier)
