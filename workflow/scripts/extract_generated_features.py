"""Extract a model's features for one generated image set."""

import json

import pandas as pd
import torch

from clipmend.features import extract, write_features
from clipmend.logs import to_file
from clipmend.models import ModelSpec, create_backbone

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
spec = ModelSpec.from_config(snakemake.wildcards.model, snakemake.params.model)
classes = json.loads(open(snakemake.input.classes).read())
backbone = create_backbone(spec, len(classes), snakemake.input.get("weights") or None)
manifest = pd.read_parquet(snakemake.input.manifest)
features = extract(backbone.features, backbone.transform, manifest["image"].tolist(),
                   snakemake.params.batch_size, snakemake.params.device, desc=spec.name)
write_features(manifest[["id", "label"]], features, snakemake.output.features)
