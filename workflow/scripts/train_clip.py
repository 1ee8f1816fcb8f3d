"""Train the demo's small open_clip model on captioned images of the clip split."""

import pandas as pd
import torch

from clipmend.clip import register_local_configs
from clipmend.demo.world import captions
from clipmend.io import write_torch
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings
from clipmend.training import TrainParams, train_clip

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
import open_clip  # noqa: E402 - after the torchvision fix that clipmend applies

register_local_configs()
params = TrainParams(**snakemake.params.train)
torch.manual_seed(params.seed)
arch = snakemake.params.arch
model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None)
index = pd.read_parquet(snakemake.input.index)
clip_split = index[index["split"] == "clip"]
texts = captions(clip_split["class_name"], clip_split["background"], seed=params.seed)
state = train_clip(model, preprocess, open_clip.get_tokenizer(arch), clip_split["image"].tolist(), texts, params,
                   RunSettings.from_config(snakemake.config).device)
write_torch({"state_dict": state}, snakemake.output.weights)
