"""Merge the prepare jobs' manifest parts into ROOT/MANIFEST.tsv."""

from clipmend.data.prepare.steps import finish
from clipmend.logs import to_file

to_file(snakemake.log[0])
finish(list(snakemake.input), snakemake.params.root, snakemake.output.summary)
