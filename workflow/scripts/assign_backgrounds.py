"""Let CLIP pick, zero-shot, each failure's background among its class's backgrounds."""

import json
import logging

import pandas as pd

from clipmend.assign import assign_backgrounds
from clipmend.clip import load_clip
from clipmend.features import read_features
from clipmend.io import write_parquet
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
failures = pd.read_parquet(snakemake.input.failures)
classes = json.loads(open(snakemake.input.classes).read())
proposal = json.loads(open(snakemake.input.backgrounds).read())
backgrounds = {c: v["backgrounds"] for c, v in proposal["classes"].items()}
meta, image_features = read_features(snakemake.input.clip_features)
rows = pd.Series(range(len(meta)), index=meta["id"]).loc[failures["id"]].to_numpy()
weights = snakemake.input.get("weights") or snakemake.params.weights
clip = load_clip(snakemake.params.arch, weights, RunSettings.from_config(snakemake.config).device)
assignments = assign_backgrounds(failures, image_features[rows], classes, backgrounds,
                                 clip.encode_texts, snakemake.params.prompt)
logging.info("assigned %d failures; per part: %s", assignments["background"].notna().sum(),
             assignments["part"].value_counts().to_dict())
write_parquet(assignments, snakemake.output.assignments)
