"""Verify an archive against its published (or pinned) checksum; fetch it first if it has a URL."""

from clipmend.data.prepare.steps import verify
from clipmend.logs import to_file

to_file(snakemake.log[0])
verify(snakemake.params.path, snakemake.params.kind, snakemake.wildcards.archive, snakemake.params.prepare,
       snakemake.output.stamp)
