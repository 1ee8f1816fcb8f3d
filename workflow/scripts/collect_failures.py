"""Collect the debug-set images the model gets wrong; split them into seed and heldout."""

import logging

import torch

from clipmend.failures import collect_failures
from clipmend.features import read_features
from clipmend.io import write_parquet
from clipmend.logs import to_file

to_file(snakemake.log[0])
head = torch.load(snakemake.input.classifier)
if head is None:
    raise ValueError(f"model {snakemake.wildcards.model!r} has no classifier head to find failures with")
meta, features = read_features(snakemake.input.features, splits=["val"])
failures = collect_failures(meta, features, head["weight"].numpy(), head["bias"].numpy(),
                            snakemake.params.seed)
logging.info("%d failures in %d debug images: %s", len(failures), len(meta),
             failures["part"].value_counts().to_dict())
write_parquet(failures, snakemake.output.failures)
