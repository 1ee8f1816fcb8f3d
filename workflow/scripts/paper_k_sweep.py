"""Figure 5b for one model: accuracy per k, each k the first k backgrounds of its generated set.

The generated set holds generator.k backgrounds per class in ``top_backgrounds`` order, so
every smaller k is a subset of it: nothing is generated or extracted again. A k whose subset is
the whole set (k = generator.k) is individual debugging: its head comes from head.pt.
"""

import json
import logging

import numpy as np
import pandas as pd
import torch

from clipmend.assign import top_backgrounds
from clipmend.features import read_features
from clipmend.heads import HeadParams, run_options, saved_heads
from clipmend.io import write_csv
from clipmend.logs import to_file
from clipmend.metrics import evaluation_sets
from clipmend.sweeps import k_subsets, k_sweep

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
cfg = dict(snakemake.params.head)
lam = cfg.pop("lambda")
params = HeadParams(**cfg)
ks = list(snakemake.params.ks)
classes = json.loads(open(snakemake.input.classes).read())
meta, features = read_features(snakemake.input.features)
train = (meta["split"] == "train").to_numpy()
labels = meta["label"].to_numpy()
own = torch.load(snakemake.input.classifier)
init = None if own is None else (own["weight"].numpy(), own["bias"].numpy())
sets = evaluation_sets(meta, pd.read_parquet(snakemake.input.failures))
evals = {split: (features[idx], labels[idx]) for split, idx in sets.items()}
gen_meta, gen = read_features(snakemake.input.gen)
manifest = pd.read_parquet(snakemake.input.manifest, columns=["id", "label", "background"])
if not np.array_equal(manifest["id"].to_numpy(), gen_meta["id"].to_numpy()):
    raise ValueError(
        f"{snakemake.input.gen} is not aligned with {snakemake.input.manifest}; rebuild it")
chosen = top_backgrounds(pd.read_parquet(snakemake.input.assignments), max(ks), part="debug_seed")
gens = k_subsets(gen, manifest, chosen, ks)
logging.info("images per k: %s", {k: len(y) for k, (_, y) in gens.items()})
reusable = saved_heads(torch.load(snakemake.input.head), params, lam)
# all rows, in order: debug_heads' individual set, so its head
known = {k: reusable["individual"] for k, (_, y) in gens.items() if len(y) == len(gen) and reusable}
logging.info("reused from head.pt at k %s", sorted(known))
rows = k_sweep(features[train], labels[train], gens, lam, evals, len(classes), params, init,
               dataset=snakemake.wildcards.dataset, model=snakemake.wildcards.model,
               family=snakemake.params.family, known=known, **run_options(snakemake.config))
logging.info("\n%s", rows.pivot_table(index="value", columns="split", values="accuracy"))
write_csv(rows, snakemake.output.sweep)
