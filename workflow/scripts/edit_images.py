"""Edit a model's debug_seed failures into its chosen uncommon backgrounds (its edit set, or one shard
of it), or merge the shard jobs' manifests when the set was made in shards."""

from clipmend.generation.steps import edit_images
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
i = snakemake.input
edit_images(i.assignments, i.failures, i.index, i.classes, snakemake.output.edit, snakemake.params.generator,
            snakemake.params.store, run=RunSettings.from_config(snakemake.config), threads=snakemake.threads,
            shard=snakemake.params.shard, parts=snakemake.input.get("parts", []))
