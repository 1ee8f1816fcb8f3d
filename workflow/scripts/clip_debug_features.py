"""Embed every debug-set image with CLIP once; all models' assignments share it."""

import pandas as pd
import torch

from clipmend.clip import load_clip
from clipmend.features import extract, write_features
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
run = RunSettings.from_config(snakemake.config)
weights = snakemake.input.get("weights") or snakemake.params.weights
clip = load_clip(snakemake.params.arch, weights, run.device)
index = pd.read_parquet(snakemake.input.index)
debug = index[index["split"] == "val"].reset_index(drop=True)
features = extract(clip.encode_images, clip.preprocess, debug["image"].tolist(),
                   run.feature_batch_size, run.device, desc="clip", module=clip.model)
write_features(debug[["id", "label"]], features, snakemake.output.features)
