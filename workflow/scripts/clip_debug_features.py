"""Embed every debug-set image with CLIP once; all models' assignments share it."""

import pandas as pd
import torch

from clipmend.clip import load_clip
from clipmend.features import extract, resolve_device, write_features
from clipmend.logs import to_file

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
weights = snakemake.input.get("weights") or snakemake.params.weights
clip = load_clip(snakemake.params.arch, weights, resolve_device(snakemake.params.device))
index = pd.read_parquet(snakemake.input.index)
debug = index[index["split"] == "val"].reset_index(drop=True)
features = extract(clip.encode_images, clip.preprocess, debug["image"].tolist(),
                   snakemake.params.batch_size, snakemake.params.device, desc="clip")
write_features(debug[["id", "label"]], features, snakemake.output.features)
