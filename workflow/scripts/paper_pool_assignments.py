"""Pool the debug_seed assignments of a family's members (collective debugging, type 1)."""

import logging

import pandas as pd

from clipmend.collective import pool_assignments
from clipmend.io import write_parquet
from clipmend.logs import to_file

to_file(snakemake.log[0])
members = list(snakemake.params.members)
tables = {m: pd.read_parquet(p) for m, p in zip(members, snakemake.input.assignments)}
pooled = pool_assignments(tables, members, strict=snakemake.params.strict)
logging.info("family %s: %d pooled debug_seed failures (%s)", snakemake.wildcards.family,
             len(pooled), pooled["model"].value_counts().to_dict())
write_parquet(pooled, snakemake.output.assignments)
