"""One target model's head trained with every generated set at once (the collective matrix row).

Yields the target's collective_family (type 1) and collective_single (type 2) metrics, and
which heldout failures each resolves next to individual debugging. The target's own set at
the configured λ is individual debugging: its head comes from head.pt (debug_heads), the
other sources train here, on the run's device within its memory budget.
"""

import json
import logging

import numpy as np
import pandas as pd
import torch

from clipmend.collective import (
    Source,
    collective_metrics,
    matrix_rows,
    representatives,
    resolution_rows,
    strategy_sources,
)
from clipmend.features import read_features
from clipmend.heads import HeadParams, run_options, saved_heads, train_heads
from clipmend.io import write_csv
from clipmend.logs import to_file
from clipmend.metrics import evaluation_sets

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
dataset, target = snakemake.wildcards.dataset, snakemake.wildcards.model
family = snakemake.params.family
cfg = dict(snakemake.params.head)
lam = cfg.pop("lambda")
params = HeadParams(**cfg)
reps = representatives({m: {"family": f} for m, f in snakemake.params.families.items()},
                       snakemake.params.representatives)
classes = json.loads(open(snakemake.input.classes).read())
meta, features = read_features(snakemake.input.features)
train = (meta["split"] == "train").to_numpy()
labels = meta["label"].to_numpy()
own = torch.load(snakemake.input.classifier)
init = None if own is None else (own["weight"].numpy(), own["bias"].numpy())
sources, sets = [], []
for entry in snakemake.params.sources:
    gen_meta, gen = read_features(entry["path"], dtype=np.float16)  # half the host memory, same values
    sources.append(Source(entry["name"], entry["kind"], entry["family"]))
    sets.append((gen, gen_meta["label"].to_numpy()))
reusable = saved_heads(torch.load(snakemake.input.head), params, lam)
own_set = Source(target, "model", family)
known = {i: reusable["individual"] for i, src in enumerate(sources) if src == own_set and reusable}
logging.info("%d sources at lambda %s: %s; reused from head.pt: %s", len(sources), lam,
             [s.label for s in sources], [sources[i].label for i in known])
heads = train_heads(features[train], labels[train], sets, [lam] * len(sets), len(classes), params,
                    init, known=known, **run_options(snakemake.config))
predictions = {s: h.predict(features) for s, h in zip(sources, heads)}
evals = evaluation_sets(meta, pd.read_parquet(snakemake.input.failures))
matrix = matrix_rows(dataset, target, family, predictions, labels, evals)
metrics = collective_metrics(matrix, reps)
by_strategy = {s: predictions[src] for s, src in strategy_sources(target, family, reps).items()}
resolution = resolution_rows(dataset, target, family, by_strategy, labels, evals["debug_heldout"])
logging.info("\n%s\n%s", metrics.to_string(index=False), resolution.to_string(index=False))
write_csv(matrix, snakemake.output.matrix)
write_csv(metrics, snakemake.output.metrics)
write_csv(resolution, snakemake.output.resolution)
