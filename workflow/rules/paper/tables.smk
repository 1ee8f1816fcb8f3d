"""Tables 1 (backgrounds), 2/6 (individual vs random), 3 (collective) and the experiments table,
each as CSV (in the report), Markdown and LaTeX."""

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
