"""The collective matrix, metrics_all.csv, relative accuracy (Figure 6) and resolved overlap."""

import logging

import pandas as pd

from clipmend.collective import overlap_summary, relative_accuracy
from clipmend.io import write_csv
from clipmend.logs import to_file
from clipmend.plots import plot_collective_matrix, plot_relative_accuracy

to_file(snakemake.log[0])
read_all = lambda paths: pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
matrix = read_all(snakemake.input.matrices)
metrics = pd.concat([pd.read_csv(snakemake.input.metrics), read_all(snakemake.input.collective)],
                    ignore_index=True)
resolution = read_all(snakemake.input.resolutions)
relative = relative_accuracy(metrics)
summary = overlap_summary(resolution)
logging.info("resolved overlap:\n%s", summary.to_string(index=False))
write_csv(matrix, snakemake.output.matrix)
write_csv(metrics, snakemake.output.metrics)
write_csv(relative, snakemake.output.relative)
write_csv(resolution, snakemake.output.overlap)
write_csv(summary, snakemake.output.overlap_summary)
plot_collective_matrix(matrix, snakemake.output.matrix_png)
plot_relative_accuracy(relative, snakemake.output.relative_png, resolution)
