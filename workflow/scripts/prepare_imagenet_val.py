"""ImageNet's val images into ROOT/val/<wnid>/: from the val archive + devkit, or a flat folder + solution."""

from clipmend.data.prepare.imagenet import unpack_val, unpack_val_flat
from clipmend.data.prepare.manifest import write_entries
from clipmend.logs import to_file

to_file(snakemake.log[0])
source, root = snakemake.params.source, snakemake.params.root
if "val_dir" in source:
    entries = unpack_val_flat(source["val_dir"], source["val_solution"], root)
else:
    entries = unpack_val(source["archive"], source["devkit"], root)
write_entries(snakemake.output.part, entries)
