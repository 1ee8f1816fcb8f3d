"""Re-detection after the fix: δ per class and attribute before and after each model's debugging."""

from clipmend.logs import to_file
from clipmend.spurious.steps import redetect

to_file(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
redetect(i.index, i.classes, p.models, i.features, i.failure_heads, i.seeds, i.assignments, o.table, o.figure,
         k=p.k, min_detect=p.min_detect, kind=p.kind)
