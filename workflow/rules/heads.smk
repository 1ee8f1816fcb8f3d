"""Linear heads retrained with generated data, and accuracy tables."""


rule debug_heads:
    input:
        features=rules.extract_features.output.features,
        failure_head=rules.collect_failures.output.failure_head,
        failures=rules.collect_failures.output.failures,
        individual=get_debug_set,  # config generator.mode: the text set (individual) or the edit set
        random=rules.generated_features.output.random,
        classes=rules.prepare_data.output.classes,
    output:
        heads="results/{dataset}/{model}/debug_heads.pt",  # reused by the paper rules
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
        metrics=expand(rules.debug_heads.output.metrics, model=MODELS, allow_missing=True),
        heads=expand(rules.debug_heads.output.heads, model=MODELS, allow_missing=True),  # provenance
    output:
        **report_outputs(
            "Accuracy",
            subcategory=None,
            metrics="results/{dataset}/metrics.csv",
            summary="results/{dataset}/summary.csv",
        ),
    log:
        "logs/{dataset}/collect_metrics.log",
    localrule: True
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/collect_metrics.py"
