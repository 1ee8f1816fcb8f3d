"""Figure 2 for one generated set: an image per class (rows) and chosen background (columns)."""

import pandas as pd

from clipmend.logs import to_file
from clipmend.plots import plot_generated_grid

to_file(snakemake.log[0])
source = snakemake.wildcards.source
kind, name = source.split("-", 1)
what = f"{name}'s individual set" if kind == "model" else f"family {name}'s pooled set"
plot_generated_grid(pd.read_parquet(snakemake.input.manifest), snakemake.output.png,
                    title=f"Generated images: {what}")
