"""Tables 1 (backgrounds), 2/6 (individual vs random), 3 (collective) and the experiments table."""

from clipmend.logs import to_file
from clipmend.reporting.steps import paper_tables

to_file(snakemake.log[0])
stems = {t: snakemake.output[f"{t}_csv"].removesuffix(".csv")
         for t in ("table1", "table2", "table3", "experiments")}
paper_tables(snakemake.input.backgrounds, snakemake.input.classes, snakemake.input.metrics, stems,
             snakemake.wildcards.dataset, snakemake.params.head, snakemake.params.generator)
