"""Unpack one chunk of ImageNet's train classes into ROOT/train/<wnid>/ (finished classes are kept)."""

from clipmend.data.prepare.imagenet import chunk_of, read_members, unpack_train
from clipmend.data.prepare.manifest import write_entries
from clipmend.logs import to_file

to_file(snakemake.log[0])
classes = chunk_of(read_members(snakemake.input.members), int(snakemake.wildcards.chunk), snakemake.params.chunk_size)
write_entries(snakemake.output.part, unpack_train(snakemake.params.archive, classes, snakemake.params.root))
