"""Unpack a one-archive data set (CIFAR's python tarball, WILDS' Waterbirds) into its root."""

from clipmend.data.prepare.steps import unpack
from clipmend.logs import to_file

to_file(snakemake.log[0])
unpack(snakemake.params.kind, snakemake.params.archive, snakemake.params.root, snakemake.output.part)
