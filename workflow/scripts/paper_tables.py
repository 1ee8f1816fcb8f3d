"""Tables 1 (backgrounds), 2/6 (individual vs random), 3 (collective) and the experiments table."""

import json

import pandas as pd

from clipmend.logs import to_file
from clipmend.tables import (
    experiments_table,
    strategy_params,
    table_backgrounds,
    table_collective,
    table_individual,
    write_table,
)

to_file(snakemake.log[0])
dataset = snakemake.wildcards.dataset
classes = json.loads(open(snakemake.input.classes).read())
backgrounds = json.loads(open(snakemake.input.backgrounds).read())
metrics = pd.read_csv(snakemake.input.metrics)
params = strategy_params({"head": snakemake.params.head, "generator": snakemake.params.generator})
tables = {
    "table1": (table_backgrounds(backgrounds, classes),
               f"{dataset}: uncommon backgrounds per class proposed by the LLM"),
    "table2": (table_individual(metrics),
               f"{dataset}: individual debugging against random debugging"),
    "table3": (table_collective(metrics),
               f"{dataset}: collective debugging, type 1 (family pool) and type 2 (one model)"),
    "experiments": (experiments_table(metrics, params), f"{dataset}: every experiment"),
}
for name, (table, caption) in tables.items():
    stem = snakemake.output[f"{name}_csv"].removesuffix(".csv")
    write_table(table, stem, caption=caption)
