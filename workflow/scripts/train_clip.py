"""Train the demo's small open_clip model on captioned images of the clip split."""

from clipmend.demo.steps import train_clip
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
train_clip(snakemake.input.index, snakemake.output.weights, snakemake.params.arch,
           snakemake.params.train, run=RunSettings.from_config(snakemake.config),
           threads=snakemake.threads)
