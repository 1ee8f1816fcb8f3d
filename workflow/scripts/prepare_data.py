"""Build a data set's image index (and, for the demo, render its images)."""


from clipmend.datasets import prepare_dataset
from clipmend.io import write_json, write_parquet
from clipmend.logs import to_file

to_file(snakemake.log[0])
entry = snakemake.params.dataset
out_dir = snakemake.output.index.rsplit("/", 1)[0]
index, classes = prepare_dataset(entry["kind"], out_dir, entry.get("options", {}))
write_json(classes, snakemake.output.classes)
write_parquet(index, snakemake.output.index)
