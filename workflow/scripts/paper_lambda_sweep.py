"""Figure 5a for one model: accuracy per λ, every λ in one batched head training."""

import json
import logging

import pandas as pd
import torch

from clipmend.features import read_features
from clipmend.heads import HeadParams
from clipmend.io import write_csv
from clipmend.logs import to_file
from clipmend.metrics import evaluation_sets
from clipmend.sweeps import lambda_sweep

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
cfg = dict(snakemake.params.head)
cfg.pop("lambda")
classes = json.loads(open(snakemake.input.classes).read())
meta, features = read_features(snakemake.input.features)
train = (meta["split"] == "train").to_numpy()
labels = meta["label"].to_numpy()
own = torch.load(snakemake.input.classifier)
init = None if own is None else (own["weight"].numpy(), own["bias"].numpy())
sets = evaluation_sets(meta, pd.read_parquet(snakemake.input.failures))
evals = {split: (features[idx], labels[idx]) for split, idx in sets.items()}
gen_meta, gen = read_features(snakemake.input.gen)
rows = lambda_sweep(features[train], labels[train], (gen, gen_meta["label"].to_numpy()),
                    snakemake.params.lambdas, evals, len(classes), HeadParams(**cfg), init,
                    dataset=snakemake.wildcards.dataset, model=snakemake.wildcards.model,
                    family=snakemake.params.family)
logging.info("\n%s", rows.pivot_table(index="value", columns="split", values="accuracy"))
write_csv(rows, snakemake.output.sweep)
