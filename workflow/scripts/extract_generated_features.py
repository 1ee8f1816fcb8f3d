"""Extract a model's features for its generated image sets (individual and random, or edit)."""

from clipmend.logs import to_file
from clipmend.models.steps import generated_features
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
sets = [s for s in ("individual", "random", "edit") if s in snakemake.output.keys()]
generated_features({s: snakemake.input[s] for s in sets}, snakemake.input.classes,
                   {s: snakemake.output[s] for s in sets}, snakemake.wildcards.model,
                   snakemake.params.model, weights=snakemake.input.get("weights"),
                   run=RunSettings.from_config(snakemake.config), threads=snakemake.threads)
