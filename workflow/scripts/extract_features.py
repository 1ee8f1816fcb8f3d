"""Extract a model's features for every train, debug and test image, and its own head."""

from clipmend.logs import to_file
from clipmend.models.steps import extract_features
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
extract_features(snakemake.input.index, snakemake.input.classes, snakemake.output.features,
                 snakemake.output.own_head, snakemake.wildcards.model, snakemake.params.model,
                 weights=snakemake.input.get("weights"),
                 run=RunSettings.from_config(snakemake.config), threads=snakemake.threads)
