"""Train a backbone from scratch on the data set's train split (demo models)."""

from clipmend.logs import to_file
from clipmend.models.steps import train_backbone
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
train_backbone(snakemake.input.index, snakemake.input.classes, snakemake.output.weights,
               snakemake.wildcards.model, snakemake.params.model, snakemake.params.train,
               run=RunSettings.from_config(snakemake.config), threads=snakemake.threads)
