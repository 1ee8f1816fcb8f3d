"""generation_variants.csv: each variant's held-out gain and test accuracy with paired 95% intervals."""

from clipmend.logs import to_file
from clipmend.reporting.steps import generation_variants

to_file(snakemake.log[0])
generation_variants(snakemake.input.predictions, snakemake.params.variants, snakemake.output.table,
                    snakemake.input.get("index"))
