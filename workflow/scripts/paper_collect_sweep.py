"""All models' λ or k sweep in one table, and Figure 5 (a panel column per family)."""

import pandas as pd

from clipmend.io import write_csv
from clipmend.logs import to_file
from clipmend.plots import plot_k_sweep, plot_lambda_sweep

to_file(snakemake.log[0])
rows = pd.concat([pd.read_csv(p) for p in snakemake.input], ignore_index=True)
write_csv(rows, snakemake.output.table)
plot = plot_lambda_sweep if snakemake.wildcards.sweep == "lambda" else plot_k_sweep
plot(rows, snakemake.output.png, mark=snakemake.params.mark)
