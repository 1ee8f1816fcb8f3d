"""Individual debugging with each generation variant's set, once per seed (generation_variants.csv)."""

from clipmend.debugging.steps import variant_head_seeds
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
i, p = snakemake.input, snakemake.params
variant_head_seeds(i.features, i.failure_head, i.failures, dict(zip(p.variants, i.variants, strict=True)), i.classes,
                   snakemake.output.predictions, snakemake.wildcards.model, p.head, p.seeds,
                   run=RunSettings.from_config(snakemake.config), threads=snakemake.threads)
