"""Export one generated set as a data set a user can load elsewhere (ImageFolder tree, metadata.csv, SHA256SUMS)."""

from clipmend.generation.steps import export_set
from clipmend.logs import to_file

to_file(snakemake.log[0])
export_set(snakemake.input.manifest, snakemake.input.classes, snakemake.output.tree, link=snakemake.params.link)
