"""How often CLIP's assigned background is the failure's true background, per model."""

from clipmend.evaluation.steps import assignment_accuracy
from clipmend.logs import to_file

to_file(snakemake.log[0])
assignment_accuracy(snakemake.input.index, snakemake.input.assignments, snakemake.params.models,
                    snakemake.output.table, snakemake.params.kind)
