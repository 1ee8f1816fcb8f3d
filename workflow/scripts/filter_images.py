"""Mark what the filter drops in a model's generated sets, from the shared scores table."""

from clipmend.generation.steps import filter_images
from clipmend.logs import to_file

to_file(snakemake.log[0])
sets = ("individual", "random")
filter_images({s: snakemake.input[s] for s in sets}, snakemake.input.scores,
              {s: snakemake.output[s] for s in sets}, snakemake.params.thresholds)
