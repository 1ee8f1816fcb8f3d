"""Generated images a user can trust: the filter's quality and individual debugging per generation variant."""


rule generation_variant_seeds:
    input:
        features=rules.extract_features.output.features,
        failure_head=rules.collect_failures.output.failure_head,
        failures=rules.collect_failures.output.failures,
        variants=get_variant_feature_list,
        classes=rules.prepare_data.output.classes,
    output:
        predictions="results/{dataset}/{model}/generation_variant_seeds.parquet",
    params:
        variants=list(GENERATION_VARIANTS),
        head=config["head"],
        seeds=config["spurious"]["seeds"],
    threads: 1
    log:
        "logs/{dataset}/{model}/generation_variant_seeds.log",
    benchmark:
        "benchmarks/runs/{dataset}/{model}/generation_variant_seeds.tsv"
    resources:
        gpu=1,
        mem_mb=get_head_mem_mb,
        runtime=get_head_seeds_runtime,
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/generation_variant_seeds.py"


rule generation_variants:
    input:
        predictions=expand(rules.generation_variant_seeds.output.predictions, model=MODELS, allow_missing=True),
        index=rules.prepare_data.output.index,  # each test image's object: the bootstrap draws objects
    output:
        **report_outputs("Generation variants", table="results/{dataset}/paper/generation_variants.csv"),
    params:
        variants=list(GENERATION_VARIANTS),
    log:
        "logs/{dataset}/paper/generation_variants.log",
    localrule: True
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/generation_variants.py"


rule filter_quality:
    input:
        manifests=rules.filter_images.output,  # every model's filtered individual and random sets
    output:
        **report_outputs(
            "Generated-image filter",
            table="results/{dataset}/paper/filter_quality.csv",
            grid="results/{dataset}/paper/filter_grid.png",
        ),
    log:
        "logs/{dataset}/paper/filter_quality.log",
    localrule: True
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/filter_quality.py"
