"""Figure 4: IoU of every model pair's debug-set failures, and its within/across-family means."""

from clipmend.logs import to_file
from clipmend.reporting.steps import failure_iou

to_file(snakemake.log[0])
failure_iou(snakemake.input.failures, snakemake.output.iou, snakemake.output.summary,
            snakemake.output.png, snakemake.wildcards.dataset, snakemake.params.models,
            snakemake.params.families)
