"""Extract a model's features for every train, val and test image, and its own head."""

import json

import pandas as pd
import torch

from clipmend.failures import predict
from clipmend.features import extract, write_features
from clipmend.io import write_torch
from clipmend.logs import to_file
from clipmend.models import ModelSpec, create_backbone
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
run = RunSettings.from_config(snakemake.config)
spec = ModelSpec.from_config(snakemake.wildcards.model, snakemake.params.model)
classes = json.loads(open(snakemake.input.classes).read())
backbone = create_backbone(spec, len(classes), snakemake.input.get("weights") or None, run.device)
index = pd.read_parquet(snakemake.input.index)
index = index[index["split"].isin(["train", "val", "test"])].reset_index(drop=True)
features = extract(backbone.features, backbone.transform, index["image"].tolist(),
                   run.feature_batch_size, run.device, desc=spec.name, module=backbone.model)
head = backbone.classifier()
meta = index[["id", "split", "label"]].copy()
if head is not None:  # decisions from float32 logits, before the features are stored as float16
    meta["pred"] = predict(features, head[0].numpy(), head[1].numpy())
write_features(meta, features, snakemake.output.features)
write_torch(None if head is None else {"weight": head[0], "bias": head[1]}, snakemake.output.classifier)
