"""Let CLIP pick, zero-shot, each failure's background among its class's backgrounds."""

from clipmend.clip.steps import assign_backgrounds
from clipmend.logs import to_file
from clipmend.run_settings import RunSettings

to_file(snakemake.log[0])
assign_backgrounds(snakemake.input.failures, snakemake.input.backgrounds, snakemake.input.classes,
                   snakemake.input.clip_features, snakemake.output.assignments,
                   snakemake.params.arch, snakemake.input.get("weights") or snakemake.params.weights,
                   snakemake.params.prompt, run=RunSettings.from_config(snakemake.config))
