"""Retrain the linear head: baseline (λ = 0), random and individual debugging; score them.

Run settings (device, memory) are read from the config, so changing them re-runs nothing.
"""

from clipmend.debugging.steps import debug_heads
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
debug_heads(snakemake.input.features, snakemake.input.failure_head, snakemake.input.failures,
            snakemake.input.individual, snakemake.input.random, snakemake.input.classes,
            snakemake.output.heads, snakemake.output.metrics, snakemake.wildcards.dataset,
            snakemake.wildcards.model, snakemake.params.family, snakemake.params.head,
            run=RunSettings.from_config(snakemake.config), threads=snakemake.threads)
