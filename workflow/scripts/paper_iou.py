"""Figure 4: IoU of every model pair's debug-set failures, and its within/across-family means."""

import logging

import pandas as pd

from clipmend.io import write_csv
from clipmend.iou import failure_iou, family_order, iou_summary
from clipmend.logs import to_file
from clipmend.plots import plot_iou_heatmap

to_file(snakemake.log[0])
models = list(snakemake.params.models)
families = dict(snakemake.params.families)
failures = {m: pd.read_parquet(p, columns=["id"]) for m, p in zip(models, snakemake.input.failures)}
iou = failure_iou(failures, family_order(models, families))
summary = iou_summary(iou, families)
logging.info("failure IoU:\n%s\n%s", iou.round(3).to_string(), summary.to_string(index=False))
write_csv(iou.reset_index(), snakemake.output.iou)
write_csv(summary, snakemake.output.summary)
title = f"{snakemake.wildcards.dataset}: failure IoU (intersection / union) on the debug set"
plot_iou_heatmap(iou, families, snakemake.output.png, title=title)
