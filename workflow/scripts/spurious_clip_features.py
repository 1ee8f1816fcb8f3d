"""Cache one CLIP model's pre-projection features of every image and prompt (fine-tuning reuses them)."""

from clipmend.logs import to_file
from clipmend.run_settings import RunSettings
from clipmend.spurious.steps import clip_features

to_file(snakemake.log[0])
p = snakemake.params
clip_features(snakemake.input.index, snakemake.input.classes, snakemake.output.features, p.clip["arch"],
              snakemake.input.get("weights") or p.clip["weights"], p.templates, p.attribute_prompt,
              p.attribute_phrases, run=RunSettings.from_config(snakemake.config), threads=snakemake.threads,
              attribute_templates=p.attribute_templates)
