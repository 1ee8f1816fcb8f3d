"""Merge every source's detections; precision@1 against each class's common attribute; the δ heat map."""

from clipmend.logs import to_file
from clipmend.spurious.steps import collect_detections

to_file(snakemake.log[0])
collect_detections(snakemake.input.detections, snakemake.input.index, snakemake.output.detections,
                   snakemake.output.precision, snakemake.output.heatmap, snakemake.params.families)
