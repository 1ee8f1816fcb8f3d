"""Ask the LLM backend, per class, for uncommon backgrounds; de-duplicate them."""

from clipmend.llm.steps import propose_backgrounds
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
propose_backgrounds(snakemake.input.classes, snakemake.output.backgrounds, snakemake.params.llm,
                    clip=snakemake.params.clip, clip_weights=snakemake.input.get("clip_weights"),
                    run=RunSettings.from_config(snakemake.config))
