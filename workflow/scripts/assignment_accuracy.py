"""How often CLIP's assigned background is the failure's true background, per model."""

import pandas as pd
import pyarrow.parquet as pq

from clipmend.assign import assignment_accuracy
from clipmend.io import write_csv
from clipmend.logs import to_file

to_file(snakemake.log[0])
# only the demo's index records each image's true background
columns = [c for c in ("id", "background") if c in pq.read_schema(snakemake.input.index).names]
index = pd.read_parquet(snakemake.input.index, columns=columns)
tables = {m: pd.read_parquet(p) for m, p in zip(snakemake.params.models, snakemake.input.assignments)}
write_csv(assignment_accuracy(tables, index), snakemake.output.table)
