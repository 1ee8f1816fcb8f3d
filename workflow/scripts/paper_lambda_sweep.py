"""Figure 5a for one model: accuracy per λ, every λ in one head training.

λ = 0 (the baseline) and the configured λ (individual debugging) reuse head.pt's heads.
"""

import json
import logging

import pandas as pd
import torch

from clipmend.features import read_features
from clipmend.heads import HeadParams, run_options, saved_heads
from clipmend.io import write_csv
from clipmend.logs import to_file
from clipmend.metrics import evaluation_sets
from clipmend.sweeps import lambda_sweep

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
cfg = dict(snakemake.params.head)
lam = cfg.pop("lambda")
params = HeadParams(**cfg)
classes = json.loads(open(snakemake.input.classes).read())
meta, features = read_features(snakemake.input.features)
train = (meta["split"] == "train").to_numpy()
labels = meta["label"].to_numpy()
own = torch.load(snakemake.input.classifier)
init = None if own is None else (own["weight"].numpy(), own["bias"].numpy())
sets = evaluation_sets(meta, pd.read_parquet(snakemake.input.failures))
evals = {split: (features[idx], labels[idx]) for split, idx in sets.items()}
gen_meta, gen = read_features(snakemake.input.gen)
reusable = saved_heads(torch.load(snakemake.input.head), params, lam)
known = {value: reusable[name] for value, name in ((0.0, "baseline"), (lam, "individual")) if name in reusable}
logging.info("reused from head.pt at lambda %s", sorted(known))
rows = lambda_sweep(features[train], labels[train], (gen, gen_meta["label"].to_numpy()),
                    snakemake.params.lambdas, evals, len(classes), params, init,
                    dataset=snakemake.wildcards.dataset, model=snakemake.wildcards.model,
                    family=snakemake.params.family, known=known, **run_options(snakemake.config))
logging.info("\n%s", rows.pivot_table(index="value", columns="split", values="accuracy"))
write_csv(rows, snakemake.output.sweep)
