"""Train a backbone from scratch on the data set's train split (demo models)."""

import json

import pandas as pd
import torch

from clipmend.io import write_torch
from clipmend.logs import to_file
from clipmend.models import ModelSpec, create_model, model_transform
from clipmend.run_settings import RunSettings
from clipmend.training import TrainParams, train_classifier

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
spec = ModelSpec.from_config(snakemake.wildcards.model, snakemake.params.model)
classes = json.loads(open(snakemake.input.classes).read())
index = pd.read_parquet(snakemake.input.index)
train = index[index["split"] == "train"]
params = TrainParams(**snakemake.params.train)
torch.manual_seed(params.seed)  # the random initial weights, too, must be reproducible
model = create_model(spec, num_classes=len(classes), pretrained=False)
state = train_classifier(model, model_transform(model), train["image"].tolist(),
                         train["label"].to_numpy(), params, RunSettings.from_config(snakemake.config).device)
write_torch(state, snakemake.output.weights)
