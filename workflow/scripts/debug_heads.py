"""Retrain the linear head: baseline (λ = 0), random and individual debugging; score them.

The heads train on the run's device within its memory budget (run settings, read from the
config, so changing them re-runs nothing); head.pt keeps them for the paper rules.
"""

import json
import logging

import pandas as pd
import torch

from clipmend.failures import failure_predictions
from clipmend.features import read_features
from clipmend.heads import HeadParams, head_record, run_options, train_heads
from clipmend.io import write_csv, write_torch
from clipmend.logs import to_file
from clipmend.metrics import evaluation_sets, metric_rows

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
cfg = dict(snakemake.params.head)
lam = cfg.pop("lambda")
params = HeadParams(**cfg)
classes = json.loads(open(snakemake.input.classes).read())
meta, features = read_features(snakemake.input.features)
train = (meta["split"] == "train").to_numpy()
labels = meta["label"].to_numpy()
generated = {s: read_features(snakemake.input[s]) for s in ("random", "individual")}
own = torch.load(snakemake.input.classifier)
init = None if own is None else (own["weight"].numpy(), own["bias"].numpy())
strategies = ["baseline", "random", "individual"]
sets = [(features[:0], labels[:0])] + [(f, m["label"].to_numpy()) for m, f in generated.values()]
heads = train_heads(features[train], labels[train], sets, [0.0, lam, lam], len(classes), params, init,
                    **run_options(snakemake.config))  # device and memory: run settings, not params
predictions = {s: h.predict(features) for s, h in zip(strategies, heads)}
if own is not None:
    original = failure_predictions(meta, features, init[0], init[1], own.get("source", "own"))
    predictions = {"original": original, **predictions}
failures = pd.read_parquet(snakemake.input.failures)
metrics = metric_rows(snakemake.wildcards.dataset, snakemake.wildcards.model, snakemake.params.family,
                      predictions, labels, evaluation_sets(meta, failures))
logging.info("\n%s", metrics.to_string(index=False))
# reused by the paper rules (collective_heads, lambda_sweep, k_sweep) where their settings match
write_torch(head_record(dict(zip(strategies, heads)), lam, params), snakemake.output.head)
write_csv(metrics, snakemake.output.metrics)
