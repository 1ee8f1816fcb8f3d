"""Extract a model's features for its generated image sets (individual and random)."""

import json

import pandas as pd
import torch

from clipmend.features import extract, write_features
from clipmend.logs import to_file
from clipmend.models import ModelSpec, create_backbone
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
run = RunSettings.from_config(snakemake.config)
spec = ModelSpec.from_config(snakemake.wildcards.model, snakemake.params.model)
classes = json.loads(open(snakemake.input.classes).read())
backbone = create_backbone(spec, len(classes), snakemake.input.get("weights") or None, run.device)
for name in ("individual", "random"):
    manifest = pd.read_parquet(snakemake.input[name])
    features = extract(backbone.features, backbone.transform, manifest["image"].tolist(),
                       run.feature_batch_size, run.device, desc=f"{spec.name} {name}",
                       module=backbone.model)
    write_features(manifest[["id", "label"]], features, snakemake.output[name])
