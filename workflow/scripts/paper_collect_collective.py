"""The collective matrix, metrics_all.csv, relative accuracy (Figure 6) and resolved overlap."""

from clipmend.logs import to_file
from clipmend.reporting.steps import collect_collective

to_file(snakemake.log[0])
collect_collective(snakemake.input.metrics, snakemake.input.matrices, snakemake.input.collective,
                   snakemake.input.resolutions, dict(snakemake.output.items()),
                   made_by=snakemake.input.heads)
