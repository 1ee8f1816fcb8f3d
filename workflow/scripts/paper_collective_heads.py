"""One target model's head trained with every generated set at once (the collective matrix row)."""

from clipmend.debugging.steps import collective_heads
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
collective_heads(snakemake.input.features, snakemake.input.failure_head, snakemake.input.failures,
                 snakemake.input.classes, snakemake.input.heads, snakemake.params.sources,
                 snakemake.output.matrix, snakemake.output.metrics, snakemake.output.resolution,
                 snakemake.wildcards.dataset, snakemake.wildcards.model, snakemake.params.family,
                 snakemake.params.families, snakemake.params.representatives,
                 snakemake.params.head, run=RunSettings.from_config(snakemake.config),
                 threads=snakemake.threads)
