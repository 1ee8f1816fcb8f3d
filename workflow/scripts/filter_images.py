"""Mark what the filter drops in every model's generated sets, from the shared scores table."""

from clipmend.generation.steps import filter_images
from clipmend.logs import to_file

to_file(snakemake.log[0])
sets = {f"{s} {i}": (path, snakemake.output[s][i]) for s in ("individual", "random")
        for i, path in enumerate(snakemake.input[s])}
filter_images({k: v[0] for k, v in sets.items()}, snakemake.input.scores, {k: v[1] for k, v in sets.items()},
              snakemake.params.thresholds)
