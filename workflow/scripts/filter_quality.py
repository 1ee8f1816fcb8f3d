"""filter_quality.csv (precision and recall of dropping a defective image) and the kept-vs-dropped grid."""

from clipmend.logs import to_file
from clipmend.reporting.generation import filter_grid, filter_quality

to_file(snakemake.log[0])
filter_quality(snakemake.input.manifests, snakemake.output.table)
filter_grid(snakemake.input.manifests, snakemake.output.grid)
