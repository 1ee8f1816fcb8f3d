"""Pool the debug_seed assignments of a family's members (collective debugging, type 1)."""

from clipmend.debugging.steps import pool_assignments
from clipmend.logs import to_file

to_file(snakemake.log[0])
pool_assignments(snakemake.input.assignments, snakemake.params.members,
                 snakemake.output.assignments, snakemake.wildcards.family, snakemake.params.strict)
