"""Spurious attributes of one source (a CLIP model zero-shot, or a first-paper model) by accuracy discrepancy."""

from clipmend.logs import to_file
from clipmend.spurious.steps import detect

to_file(snakemake.log[0])
detect(snakemake.input.clip, snakemake.output.detections, snakemake.wildcards.source, snakemake.params.detect,
       model_features=snakemake.input.get("features"), failure_head=snakemake.input.get("failure_head"))
