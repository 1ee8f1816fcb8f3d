"""Score every distinct generated image of the run with CLIP against its prompt, once each
(the families' pooled sets: only the images the models' sets do not hold)."""

from clipmend.generation.steps import score_generated_images
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
p = snakemake.params
score_generated_images(list(snakemake.input.manifests), snakemake.input.backgrounds, snakemake.input.classes,
                       snakemake.output.scores, p.arch, snakemake.input.get("weights") or p.weights,
                       p.prompt,
                       run=RunSettings.from_config(snakemake.config), threads=snakemake.threads,
                       known=snakemake.input.get("known"))
