"""Figure 2 for one generated set: an image per class (rows) and chosen background (columns)."""

from clipmend.logs import to_file
from clipmend.reporting.steps import generated_grid

to_file(snakemake.log[0])
generated_grid(snakemake.input.manifest, snakemake.output.png, snakemake.wildcards.source)
