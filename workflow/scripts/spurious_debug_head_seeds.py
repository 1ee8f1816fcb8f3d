"""The first paper's random and individual debugging once per seed (resampled generated sets), for the intervals."""

from clipmend.debugging.steps import debug_head_seeds
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
i = snakemake.input
debug_head_seeds(i.features, i.failure_head, i.failures, i.individual, i.random, i.classes,
                 snakemake.output.predictions, snakemake.wildcards.model, snakemake.params.head,
                 snakemake.params.seeds, run=RunSettings.from_config(snakemake.config), threads=snakemake.threads)
