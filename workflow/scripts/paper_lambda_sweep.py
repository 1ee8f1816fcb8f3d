"""Figure 5a for one model: accuracy per λ, every λ in one head training."""

from clipmend.debugging.steps import lambda_sweep
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
lambda_sweep(snakemake.input.features, snakemake.input.failure_head, snakemake.input.failures,
             snakemake.input.classes, snakemake.input.gen, snakemake.input.heads,
             snakemake.output.sweep, snakemake.params.lambdas, snakemake.wildcards.dataset,
             snakemake.wildcards.model, snakemake.params.family, snakemake.params.head,
             run=RunSettings.from_config(snakemake.config), threads=snakemake.threads)
