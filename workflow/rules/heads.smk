"""Linear heads retrained with generated data, and accuracy tables."""


rule debug_heads:
    input:
        features=rules.extract_features.output.features,
        classifier=rules.collect_failures.output.head,
        failures=rules.collect_failures.output.failures,
        individual="results/{dataset}/{model}/gen_features/individual.parquet",
        random="results/{dataset}/{model}/gen_features/random.parquet",
        classes=rules.prepare_data.output.classes,
    output:
        head="results/{dataset}/{model}/head.pt",
        metrics="results/{dataset}/{model}/metrics.csv",
    params:
        head=config["head"],
        family=get_family,
    threads: 1
    group:
        "debug"
    log:
        "logs/{dataset}/{model}/debug_heads.log",
    benchmark:
        "benchmarks/runs/{dataset}/{model}/debug_heads.tsv"
    resources:
        gpu=1,  # heads train on the run's device (config device), chunked to memory.device_gb
        mem_mb=get_head_mem_mb,  # features as read + the planner's host share (common.smk)
        runtime=cost_runtime("debug_heads", 30),
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/debug_heads.py"


rule collect_metrics:
    input:
        expand("results/{{dataset}}/{model}/metrics.csv", model=MODELS),
    output:
        metrics=report("results/{dataset}/metrics.csv", category="Accuracy"),
        summary=report("results/{dataset}/summary.csv", category="Accuracy"),
    log:
        "logs/{dataset}/collect_metrics.log",
    localrule: True
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/collect_metrics.py"
