"""Index ILSVRC2012_img_train.tar: its class tars, with their offsets (the chunks' work list)."""

from clipmend.data.prepare.steps import imagenet_index
from clipmend.logs import to_file

to_file(snakemake.log[0])
imagenet_index(snakemake.params.archive, snakemake.output.members)
