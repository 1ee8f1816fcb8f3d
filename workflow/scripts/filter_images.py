"""Score a model's generated sets with CLIP against their prompts and mark what the filter drops."""

from clipmend.generation.steps import filter_images
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
sets = ("individual", "random")
p = snakemake.params
filter_images({s: snakemake.input[s] for s in sets}, snakemake.input.backgrounds, snakemake.input.classes,
              {s: snakemake.output[s] for s in sets}, p.arch, snakemake.input.get("weights") or p.weights,
              p.settings, p.background_prompt,
              run=RunSettings.from_config(snakemake.config), threads=snakemake.threads)
