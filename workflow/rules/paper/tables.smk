"""Tables 1 (backgrounds), 2/6 (individual vs random), 3 (collective) and the experiments table,
each as CSV (in the report), Markdown and LaTeX."""

PAPER_TABLES = ("table1", "table2", "table3", "experiments")


def paper_table_outputs():
    """The .csv (a report table), .md and .tex output of every paper table, named TABLE_EXT."""
    outputs = {}
    for table in PAPER_TABLES:
        stem = f"results/{{dataset}}/paper/{table}"
        outputs |= report_outputs("Tables", **{f"{table}_csv": f"{stem}.csv"})
        outputs |= {f"{table}_md": f"{stem}.md", f"{table}_tex": f"{stem}.tex"}
    return outputs


rule paper_tables:
    input:
        backgrounds=rules.propose_backgrounds.output.backgrounds,
        classes=rules.prepare_data.output.classes,
        metrics=rules.collect_collective.output.metrics,
    output:
        **paper_table_outputs(),
    params:
        head=config["head"],
        generator=get_section("generator"),
    log:
        "logs/{dataset}/paper/paper_tables.log",
    localrule: True
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/paper_tables.py"
