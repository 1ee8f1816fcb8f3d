"""Figure 3 (a failure gallery per model) and Figure 2 (a grid per generated set)."""


rule failure_gallery:
    input:
        assignments=rules.assign_backgrounds.output.assignments,
        index=rules.prepare_data.output.index,
        classes=rules.prepare_data.output.classes,
    output:
        **report_outputs(
            "Failures and their backgrounds (Figure 3)",
            png="results/{dataset}/paper/gallery/{model}.png",
        ),
    params:
        n=config["paper"]["gallery_size"],
    log:
        "logs/{dataset}/paper/gallery_{model}.log",
    localrule: True
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/paper_gallery.py"


rule generated_grid:
    input:
        manifest=get_generated_manifest,
    output:
        **report_outputs(
            "Generated images (Figure 2)",
            png="results/{dataset}/paper/generated/{source}.png",
        ),
    log:
        "logs/{dataset}/paper/generated_{source}.log",
    localrule: True
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/paper_generated_grid.py"
