"""A target model's features of every other generated set (other models' and families' sets)."""

from clipmend.logs import to_file
from clipmend.models.steps import cross_features
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
cross_features(snakemake.input.own, dict(zip(snakemake.params.sources, snakemake.input.manifests)),
               snakemake.input.classes, snakemake.output.features, snakemake.wildcards.model,
               snakemake.params.model, weights=snakemake.input.get("weights"),
               run=RunSettings.from_config(snakemake.config), threads=snakemake.threads)
