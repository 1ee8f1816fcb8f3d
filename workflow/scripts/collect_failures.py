"""Collect the debug-set images the model gets wrong, each in its debug_seed or debug_heldout part."""

from clipmend.debugging.steps import collect_failures
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
collect_failures(snakemake.input.features, snakemake.input.own_head, snakemake.input.classes,
                 snakemake.output.failures, snakemake.output.failure_head, snakemake.params.seed,
                 snakemake.params.mode, snakemake.params.baseline,
                 run=RunSettings.from_config(snakemake.config), threads=snakemake.threads)
