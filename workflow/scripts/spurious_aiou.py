"""AIoU of one method: GradCAM of CLIP's image encoder for the true class against each object's mask."""

from clipmend.logs import to_file
from clipmend.run_settings import RunSettings
from clipmend.spurious.steps import method_aiou

to_file(snakemake.log[0])
method_aiou(snakemake.input.features, snakemake.input.model, snakemake.output.aiou, snakemake.params.aiou,
            run=RunSettings.from_config(snakemake.config), threads=snakemake.threads)
