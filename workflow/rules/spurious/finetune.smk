"""CLIP's pre-projection features, cached once; each method fitted (one job per method); its AIoU."""


rule spurious_clip_features:
    input:
        index=rules.prepare_data.output.index,
        classes=rules.prepare_data.output.classes,
        weights=get_spurious_clip_weights,
    output:
        features="results/{dataset}/spurious/{clip_model}/features.pt",
    params:
        clip=get_spurious_clip,
        templates=get_config("spurious", "templates"),
        attribute_prompt=get_config("spurious", "attribute_prompt"),
        attribute_phrases=config["spurious"]["attribute_phrases"],
        attribute_templates=get_config("spurious", "attribute_templates"),
    threads: 1
    log:
        "logs/{dataset}/spurious/{clip_model}/clip_features.log",
    benchmark:
        "benchmarks/runs/{dataset}/spurious/{clip_model}/clip_features.tsv"
    resources:
        gpu=1,
        mem_mb=cost_mem_mb("spurious_clip_features", 8000),  # ImageNet's index and features: 9.7 GB
        runtime=cost_runtime("spurious_clip_features", 60),
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/spurious_clip_features.py"


rule spurious_train:
    input:
        features=rules.spurious_clip_features.output.features,
        detections=get_train_detections,
    output:
        model="results/{dataset}/spurious/{clip_model}/methods/{method}.pt",
        predictions="results/{dataset}/spurious/{clip_model}/methods/{method}.parquet",
        history="results/{dataset}/spurious/{clip_model}/methods/{method}_history.csv",
    params:
        settings=get_method_settings,
        seeds=get_method_seeds,
    threads: 1
    log:
        "logs/{dataset}/spurious/{clip_model}/train_{method}.log",
    benchmark:
        "benchmarks/runs/{dataset}/spurious/{clip_model}/train_{method}.tsv"
    resources:
        gpu=1,
        mem_mb=cost_mem_mb("spurious_train", 8000),  # a full ImageNet train split's features: 17 GB
        runtime=cost_runtime("spurious_train", 120),  # the slowest method's (cost.spurious_train_hours)
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/spurious_train.py"


rule spurious_aiou:
    input:
        features=rules.spurious_clip_features.output.features,
        model=rules.spurious_train.output.model,
        weights=get_spurious_clip_weights,
    output:
        aiou="results/{dataset}/spurious/{clip_model}/aiou/{method}.csv",
    params:
        aiou=config["spurious"]["aiou"],
    threads: 1
    log:
        "logs/{dataset}/spurious/{clip_model}/aiou_{method}.log",
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=lambda wc, attempt: 60 * attempt,
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/spurious_aiou.py"
