"""Uncommon backgrounds per class (LLM), and CLIP's pick of each failure's background."""


rule propose_backgrounds:
    input:
        classes=rules.prepare_data.output.classes,
        clip_weights=get_dedup_clip_weights,
    output:
        backgrounds="results/{dataset}/backgrounds.json",
    params:
        llm=config["llm"],
        clip=get_dedup_clip,
    log:
        "logs/{dataset}/propose_backgrounds.log",
    resources:
        mem_mb=2000,
        runtime=lambda wc, attempt: 30 * attempt,
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/propose_backgrounds.py"


rule assign_backgrounds:
    input:
        failures=rules.collect_failures.output.failures,
        backgrounds=rules.propose_backgrounds.output.backgrounds,
        classes=rules.prepare_data.output.classes,
        clip_features=rules.clip_debug_features.output.features,
        weights=get_clip_weights,
    output:
        assignments="results/{dataset}/{model}/assignments.parquet",
    params:
        arch=config["clip"]["arch"],
        weights=config["clip"]["weights"],
        prompt=get_config("clip", "prompt"),
    log:
        "logs/{dataset}/{model}/assign_backgrounds.log",
    benchmark:
        "benchmarks/runs/{dataset}/{model}/assign_backgrounds.tsv"
    resources:
        mem_mb=cost_mem_mb("assign_backgrounds", 2000),
        runtime=cost_runtime("assign_backgrounds", 20),
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/assign_backgrounds.py"


rule assignment_accuracy:
    input:
        index=rules.prepare_data.output.index,
        assignments=expand(
            rules.assign_backgrounds.output.assignments, model=MODELS, allow_missing=True
        ),
    output:
        **report_outputs(
            "CLIP background assignment",
            subcategory=None,
            table="results/{dataset}/clip_assignment_accuracy.csv",
        ),
    params:
        models=MODELS,
        kind=get_dataset_kind,  # the data set's resolver of phrases to true backgrounds
    log:
        "logs/{dataset}/assignment_accuracy.log",
    localrule: True
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/assignment_accuracy.py"
