"""ImageNet's val images into ROOT/val/<wnid>/: from the val archive + devkit, or a flat folder + solution."""

from clipmend.data.prepare.steps import imagenet_val
from clipmend.logs import to_file

to_file(snakemake.log[0])
imagenet_val(snakemake.params.source, snakemake.params.root, snakemake.output.part)
