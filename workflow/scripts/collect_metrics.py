"""Gather every model's metrics into one table, and a per-strategy summary over models."""

import pandas as pd

from clipmend.io import write_csv
from clipmend.logs import to_file
from clipmend.metrics import summarise

to_file(snakemake.log[0])
metrics = pd.concat([pd.read_csv(p) for p in snakemake.input], ignore_index=True)
write_csv(metrics, snakemake.output.metrics)
write_csv(summarise(metrics), snakemake.output.summary)
