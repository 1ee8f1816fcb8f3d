"""Build a data set's image index (and, for the demo, render its images)."""

from clipmend.data.steps import prepare_data
from clipmend.logs import to_file

to_file(snakemake.log[0])
prepare_data(snakemake.output.index, snakemake.output.classes, snakemake.params.dataset)
