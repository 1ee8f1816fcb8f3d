"""Features of every image, computed once per model; the debug-set failures."""


rule extract_features:
    input:
        index=rules.prepare_data.output.index,
        classes=rules.prepare_data.output.classes,
        weights=get_model_weights,
    output:
        features="results/{dataset}/{model}/features.parquet",
        own_head="results/{dataset}/{model}/own_head.pt",  # None for a model without one
    params:
        model=get_model_entry,
    threads: 1
    group:
        "features"
    log:
        "logs/{dataset}/{model}/extract_features.log",
    benchmark:
        "benchmarks/runs/{dataset}/{model}/extract_features.tsv"
    resources:
        gpu=1,
        mem_mb=cost_mem_mb("extract_features", 8000),
        runtime=cost_runtime("extract_features", 60),
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/extract_features.py"


rule collect_failures:
    input:
        features=rules.extract_features.output.features,
        own_head=rules.extract_features.output.own_head,
        classes=rules.prepare_data.output.classes,
    output:
        failures="results/{dataset}/{model}/failures.parquet",
        failure_head="results/{dataset}/{model}/failure_head.pt",  # whose mistakes are failures
    params:
        seed=config["failures"]["split_seed"],
        mode=config["failures"]["head"],
        baseline=config["failures"]["baseline"],
    threads: 1
    group:
        "features"
    log:
        "logs/{dataset}/{model}/collect_failures.log",
    benchmark:
        "benchmarks/runs/{dataset}/{model}/collect_failures.tsv"
    resources:
        gpu=1,  # a baseline head (models without their own) trains on the device
        mem_mb=cost_mem_mb("collect_failures", 4000),
        runtime=cost_runtime("collect_failures", 60),
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/collect_failures.py"


rule clip_debug_features:
    input:
        index=rules.prepare_data.output.index,
        weights=get_clip_weights,
    output:
        features="results/{dataset}/clip/debug_features.parquet",
    params:
        arch=config["clip"]["arch"],
        weights=config["clip"]["weights"],
    threads: 1
    log:
        "logs/{dataset}/clip_debug_features.log",
    benchmark:
        "benchmarks/runs/{dataset}/clip_debug_features.tsv"
    resources:
        gpu=1,
        mem_mb=cost_mem_mb("clip_debug_features", 8000),
        runtime=cost_runtime("clip_debug_features", 60),
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/clip_debug_features.py"
