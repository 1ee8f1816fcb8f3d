"""Data sets, and the backbones and CLIP that the demo trains itself."""


rule prepare_data:
    input:
        prepared=get_prepared,
    output:
        index="results/{dataset}/data/index.parquet",
        classes="results/{dataset}/data/classes.json",
    params:
        dataset=get_dataset_entry,
    log:
        "logs/{dataset}/prepare_data.log",
    benchmark:
        "benchmarks/runs/{dataset}/prepare_data.tsv"
    resources:
        mem_mb=cost_mem_mb("prepare_data", 4000),
        runtime=lambda wc, attempt: 30 * attempt,
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/prepare_data.py"


rule train_backbone:
    input:
        index=rules.prepare_data.output.index,
        classes=rules.prepare_data.output.classes,
    output:
        weights="results/{dataset}/backbones/{model}.pth",
    params:
        model=get_model_entry,
        train=config["train"],
    threads: 1
    log:
        "logs/{dataset}/{model}/train_backbone.log",
    benchmark:
        "benchmarks/runs/{dataset}/{model}/train_backbone.tsv"
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=lambda wc, attempt: 60 * attempt,
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/train_backbone.py"


rule train_clip:
    input:
        index=rules.prepare_data.output.index,
    output:
        weights="results/{dataset}/clip/clip.pt",
    params:
        arch=config["clip"]["arch"],
        train=config["clip"]["train"],
    threads: 1
    log:
        "logs/{dataset}/train_clip.log",
    benchmark:
        "benchmarks/runs/{dataset}/train_clip.tsv"
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=lambda wc, attempt: 60 * attempt,
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/train_clip.py"
