"""Generate a family's collective_debug_train set from its pooled failures (as generate_images),
or one shard of it, or merge the shard jobs' manifests."""

from clipmend.generation.steps import generate_collective
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
generate_collective(snakemake.input.assignments, snakemake.input.classes,
                    snakemake.output.collective, snakemake.wildcards.family,
                    snakemake.params.generator, snakemake.params.store,
                    run=RunSettings.from_config(snakemake.config), threads=snakemake.threads,
                    shard=snakemake.params.shard, parts=snakemake.input.get("parts", []))
