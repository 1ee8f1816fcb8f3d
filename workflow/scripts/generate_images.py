"""Generate a model's debug_train set and its matched random-debugging set (or one shard of
them), or merge the shard jobs' manifests when the sets were made in shards."""

from clipmend.generation.steps import generate_images
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
generate_images(snakemake.input.assignments, snakemake.input.classes, snakemake.output.individual,
                snakemake.output.random, snakemake.params.generator, snakemake.params.store,
                run=RunSettings.from_config(snakemake.config), threads=snakemake.threads,
                shard=snakemake.params.shard, individual_parts=snakemake.input.get("individual_parts", []),
                random_parts=snakemake.input.get("random_parts", []))
