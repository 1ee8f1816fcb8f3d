"""Gather every model's metrics into one table, and a per-strategy summary over models."""

from clipmend.evaluation.steps import collect_metrics
from clipmend.logs import to_file

to_file(snakemake.log[0])
collect_metrics(snakemake.input.metrics, snakemake.output.metrics, snakemake.output.summary,
                made_by=snakemake.input.heads)
