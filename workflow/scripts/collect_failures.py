"""Collect the debug-set images the model gets wrong, each in its debug_seed or debug_heldout part.

Failures are those of the model's own classifier (its float32 logits, recorded as ``pred``
at extraction), or of a baseline head trained on the train split when it has none
(failures.head); that head is written for debug_heads. The parts split the whole debug
set by image id, the same for every model.
"""

import json
import logging

import torch

from clipmend.failures import collect_failures, failure_head, failure_predictions
from clipmend.features import read_features
from clipmend.heads import HeadParams, run_options
from clipmend.io import write_parquet, write_torch
from clipmend.logs import to_file

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
classes = json.loads(open(snakemake.input.classes).read())
own = torch.load(snakemake.input.classifier)
own = None if own is None else (own["weight"].numpy(), own["bias"].numpy())
meta, features = read_features(snakemake.input.features, splits=["train", "val"])
train = (meta["split"] == "train").to_numpy()
labels = meta["label"].to_numpy()
weight, bias, source = failure_head(snakemake.params.mode, own, features[train], labels[train],
                                    len(classes), HeadParams(**snakemake.params.baseline),
                                    **run_options(snakemake.config))
debug = meta[~train].reset_index(drop=True)
pred = failure_predictions(debug, features[~train], weight, bias, source)
failures = collect_failures(debug, pred, snakemake.params.seed)
logging.info("%d failures of the %s head in %d debug images: %s", len(failures), source,
             len(debug), failures["part"].value_counts().to_dict())
write_parquet(failures, snakemake.output.failures)
write_torch({"weight": torch.from_numpy(weight), "bias": torch.from_numpy(bias), "source": source},
            snakemake.output.head)
