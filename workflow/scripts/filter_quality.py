"""filter_quality.csv (precision and recall of dropping a defective image) and the kept-vs-dropped grid."""

from clipmend.logs import to_file
from clipmend.reporting.steps import filter_quality

to_file(snakemake.log[0])
filter_quality(snakemake.input.manifests, snakemake.output.table, snakemake.output.grid)
