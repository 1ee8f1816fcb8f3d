"""Both papers' methods on the same test groups: group metrics, the comparison table and its figures."""

from pathlib import Path

from clipmend.logs import to_file
from clipmend.spurious.steps import compare

to_file(snakemake.log[0])
i, o = snakemake.input, snakemake.output
compare(i.index, i.classes, i.predictions, i.aiou, snakemake.params.models, i.features, i.failure_heads,
        i.debug_heads, o.group_metrics, Path(o.comparison).with_suffix(""), o.wga, o.groups,
        seed_predictions=i.seeds, seeds_out=o.comparison_seeds, paired_out=o.paired)
