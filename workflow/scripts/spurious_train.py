"""Fit one method of the second paper (zero-shot, linear probe, fine-tuned CLIP, ours) and predict val/test."""

from clipmend.logs import to_file
from clipmend.run_settings import RunSettings
from clipmend.spurious.steps import train_method

to_file(snakemake.log[0])
train_method(snakemake.input.features, snakemake.wildcards.method, snakemake.wildcards.clip_model,
             snakemake.output.model, snakemake.output.predictions, snakemake.output.history,
             snakemake.params.settings.get("finetune", {}), head=snakemake.params.settings.get("head"),
             run=RunSettings.from_config(snakemake.config), threads=snakemake.threads,
             seeds=snakemake.params.seeds, detections=snakemake.input.get("detections") or None)
