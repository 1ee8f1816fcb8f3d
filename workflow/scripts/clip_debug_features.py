"""Embed every debug-set image with CLIP once; all models' assignments share it."""

from clipmend.clip.steps import clip_debug_features
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
clip_debug_features(snakemake.input.index, snakemake.output.features, snakemake.params.arch,
                    snakemake.input.get("weights") or snakemake.params.weights,
                    run=RunSettings.from_config(snakemake.config), threads=snakemake.threads)
