"""Unpack one chunk of ImageNet's train classes into ROOT/train/<wnid>/ (finished classes are kept)."""

from clipmend.data.prepare.steps import imagenet_train
from clipmend.logs import to_file

to_file(snakemake.log[0])
imagenet_train(snakemake.params.archive, snakemake.input.members, snakemake.wildcards.chunk,
               snakemake.params.chunk_size, snakemake.params.root, snakemake.output.part)
