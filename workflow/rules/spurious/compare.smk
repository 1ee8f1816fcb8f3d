"""Both papers' methods on the same test groups: group metrics, comparison table, intervals over seeds, figures."""


rule debug_head_seeds:
    input:
        features=rules.extract_features.output.features,
        failure_head=rules.collect_failures.output.failure_head,
        failures=rules.collect_failures.output.failures,
        individual=rules.generated_features.output.individual,
        random=rules.generated_features.output.random,
        classes=rules.prepare_data.output.classes,
    output:
        predictions="results/{dataset}/{model}/debug_head_seeds.parquet",
    params:
        head=config["head"],
        seeds=config["spurious"]["seeds"],
    threads: 1
    log:
        "logs/{dataset}/{model}/debug_head_seeds.log",
    benchmark:
        "benchmarks/runs/{dataset}/{model}/debug_head_seeds.tsv"
    resources:
        gpu=1,
        mem_mb=get_head_mem_mb,
        runtime=get_head_seeds_runtime,
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/spurious_debug_head_seeds.py"


rule spurious_compare:
    input:
        index=rules.prepare_data.output.index,
        classes=rules.prepare_data.output.classes,
        predictions=expand(
            rules.spurious_train.output.predictions,
            clip_model=SPURIOUS_CLIP_MODELS,
            method=SPURIOUS_METHODS,
            allow_missing=True,
        ),
        aiou=expand(
            rules.spurious_aiou.output.aiou,
            clip_model=SPURIOUS_CLIP_MODELS,
            method=SPURIOUS_METHODS,
            allow_missing=True,
        ),
        features=expand(rules.extract_features.output.features, model=MODELS, allow_missing=True),
        failure_heads=expand(rules.collect_failures.output.failure_head, model=MODELS, allow_missing=True),
        debug_heads=expand(rules.debug_heads.output.heads, model=MODELS, allow_missing=True),
        seeds=expand(rules.debug_head_seeds.output.predictions, model=MODELS, allow_missing=True),
    output:
        group_metrics="results/{dataset}/spurious/group_metrics.csv",
        comparison="results/{dataset}/spurious/comparison.csv",
        comparison_md="results/{dataset}/spurious/comparison.md",
        comparison_tex="results/{dataset}/spurious/comparison.tex",
        comparison_seeds="results/{dataset}/spurious/comparison_seeds.csv",
        paired="results/{dataset}/spurious/paired.csv",
        wga=report("results/{dataset}/spurious/wga.png", category="Spurious", subcategory="{dataset}"),
        groups=report("results/{dataset}/spurious/group_accuracy.png", category="Spurious", subcategory="{dataset}"),
    params:
        models=MODELS,
    log:
        "logs/{dataset}/spurious/compare.log",
    resources:
        mem_mb=8000,
        runtime=lambda wc, attempt: 30 * attempt,
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/spurious_compare.py"
