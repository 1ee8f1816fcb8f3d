"""Figure 5b for one model: accuracy per k, each k the first k backgrounds of its generated set."""

from clipmend.debugging.steps import k_sweep
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
k_sweep(snakemake.input.features, snakemake.input.failure_head, snakemake.input.failures,
        snakemake.input.classes, snakemake.input.assignments, snakemake.input.manifest,
        snakemake.input.gen, snakemake.input.heads, snakemake.output.sweep, snakemake.params.ks,
        snakemake.wildcards.dataset, snakemake.wildcards.model, snakemake.params.family,
        snakemake.params.head, run=RunSettings.from_config(snakemake.config),
        threads=snakemake.threads)
