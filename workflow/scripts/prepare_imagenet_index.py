"""Index ILSVRC2012_img_train.tar: its class tars, with their offsets (the chunks' work list)."""

from clipmend.data.prepare.imagenet import index_train, write_members
from clipmend.logs import to_file

to_file(snakemake.log[0])
write_members(index_train(snakemake.params.archive), snakemake.output.members)
