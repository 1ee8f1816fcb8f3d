"""Mark what the filter drops in generated sets (every model's, or every family's), from a shared scores table."""

from clipmend.generation.steps import filter_images
from clipmend.logs import to_file

to_file(snakemake.log[0])
kinds = [s for s in ("individual", "random", "collective") if s in snakemake.output.keys()]
sets = {f"{s} {i}": (path, snakemake.output[s][i]) for s in kinds for i, path in enumerate(snakemake.input[s])}
filter_images({k: v[0] for k, v in sets.items()}, snakemake.input.scores, {k: v[1] for k, v in sets.items()},
              snakemake.params.thresholds)
