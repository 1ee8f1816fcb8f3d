"""Figure 3 for one model: failures per class with true/predicted class and CLIP's background."""

from clipmend.logs import to_file
from clipmend.reporting.steps import failure_gallery

to_file(snakemake.log[0])
failure_gallery(snakemake.input.assignments, snakemake.input.index, snakemake.input.classes,
                snakemake.output.png, snakemake.wildcards.model, snakemake.params.n)
