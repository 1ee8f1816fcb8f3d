"""All models' λ or k sweep in one table, and Figure 5 (a panel column per family)."""

from clipmend.logs import to_file
from clipmend.reporting.steps import collect_sweep

to_file(snakemake.log[0])
collect_sweep(snakemake.input.sweeps, snakemake.output.table, snakemake.output.png,
              snakemake.wildcards.sweep, snakemake.params.mark)
