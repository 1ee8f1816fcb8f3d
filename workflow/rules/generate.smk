"""Generated debug_train sets: top-k CLIP backgrounds per class, and the random baseline."""


rule generate_images_shard:
    input:
        assignments=rules.assign_backgrounds.output.assignments,
        classes=rules.prepare_data.output.classes,
    output:
        individual="results/{dataset}/{model}/images/shards/{shard}/individual.parquet",
        random="results/{dataset}/{model}/images/shards/{shard}/random.parquet",
    params:
        generator=get_section("generator"),
        store="results/{dataset}/image_store",
        shard=get_shard,
    threads: 1
    log:
        "logs/{dataset}/{model}/generate_images_shard/{shard}.log",
    benchmark:
        "benchmarks/runs/{dataset}/{model}/generate_images_shard/{shard}.tsv"
    resources:
        gpu=1,
        mem_mb=cost_mem_mb("generate_images_shard", 8000),
        runtime=cost_runtime("generate_images_shard", 60),
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/generate_images.py"


rule generate_images:
    """A model's sets: generated here, or merged from its shards when one job would exceed
    cluster.max_job_hours (the shard jobs share the image store)."""
    input:
        assignments=rules.assign_backgrounds.output.assignments,
        classes=rules.prepare_data.output.classes,
        individual_parts=get_shard_parts("generate_images", rules.generate_images_shard.output.individual),
        random_parts=get_shard_parts("generate_images", rules.generate_images_shard.output.random),
    output:
        individual="results/{dataset}/{model}/images/individual.parquet",
        random="results/{dataset}/{model}/images/random.parquet",
    params:
        generator=get_section("generator"),
        store="results/{dataset}/image_store",
        shard=None,
    threads: 1
    log:
        "logs/{dataset}/{model}/generate_images.log",
    benchmark:
        "benchmarks/runs/{dataset}/{model}/generate_images.tsv"
    resources:
        gpu=generation_gpus("generate_images"),
        mem_mb=cost_mem_mb("generate_images", 8000),
        runtime=cost_runtime("generate_images", 60),  # the first job makes the shared images
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/generate_images.py"


rule score_generated_images:
    """CLIP's agreement of every distinct generated image with its prompt, once per image: models
    share images through the content-addressed store, and so their scores (filter_images applies
    each model's thresholds)."""
    input:
        manifests=expand(
            [rules.generate_images.output.individual, rules.generate_images.output.random],
            model=MODELS,
            allow_missing=True,
        ),
        backgrounds=rules.propose_backgrounds.output.backgrounds,
        classes=rules.prepare_data.output.classes,
        weights=get_clip_weights,
    output:
        scores="results/{dataset}/filter/scores.parquet",
    params:
        arch=config["clip"]["arch"],
        weights=config["clip"]["weights"],
        prompt=get_config("clip", "prompt"),
    threads: 1
    log:
        "logs/{dataset}/score_generated_images.log",
    benchmark:
        "benchmarks/runs/{dataset}/score_generated_images.tsv"
    resources:
        gpu=1,
        mem_mb=cost_mem_mb("score_generated_images", 4000),
        runtime=cost_runtime("score_generated_images", 30),
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/score_generated_images.py"


rule filter_images:
    """Every model's generated sets with their images' scores; what falls below filter.thresholds is
    marked dropped (the features step leaves it out when filter.enabled). A table join, one local
    job for all models (a job per model would spend more on starting than on joining)."""
    input:
        individual=expand(rules.generate_images.output.individual, model=MODELS, allow_missing=True),
        random=expand(rules.generate_images.output.random, model=MODELS, allow_missing=True),
        scores=rules.score_generated_images.output.scores,
    output:
        individual=expand("results/{{dataset}}/{model}/images/filtered/individual.parquet", model=MODELS),
        random=expand("results/{{dataset}}/{model}/images/filtered/random.parquet", model=MODELS),
    params:
        thresholds=get_config("filter", "thresholds"),
    log:
        "logs/{dataset}/filter_images.log",
    benchmark:
        "benchmarks/runs/{dataset}/filter_images.tsv"
    localrule: True
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/filter_images.py"


rule generated_features:
    input:
        individual=get_debug_manifest("individual"),
        random=get_debug_manifest("random"),
        classes=rules.prepare_data.output.classes,
        weights=get_model_weights,
    output:
        individual="results/{dataset}/{model}/gen_features/individual.parquet",
        random="results/{dataset}/{model}/gen_features/random.parquet",
    params:
        model=get_model_entry,
    threads: 1
    group:
        "debug"
    log:
        "logs/{dataset}/{model}/generated_features.log",
    benchmark:
        "benchmarks/runs/{dataset}/{model}/generated_features.tsv"
    resources:
        gpu=1,
        mem_mb=cost_mem_mb("generated_features", 4000),
        runtime=cost_runtime("generated_features", 30),
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/extract_generated_features.py"


rule generated_features_variant:
    """Features of the individual set the main run does not use (filtered when filter.enabled is
    false, unfiltered when it is true), for generation_variants.csv."""
    input:
        individual=get_variant_manifest,
        classes=rules.prepare_data.output.classes,
        weights=get_model_weights,
    output:
        individual="results/{dataset}/{model}/gen_features/{which}/individual.parquet",
    params:
        model=get_model_entry,
    threads: 1
    log:
        "logs/{dataset}/{model}/generated_features_{which}.log",
    benchmark:
        "benchmarks/runs/{dataset}/{model}/{which}/generated_features_variant.tsv"
    resources:
        gpu=1,
        mem_mb=cost_mem_mb("generated_features_variant", 4000),
        runtime=cost_runtime("generated_features_variant", 30),
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/extract_generated_features.py"


rule edit_images_shard:
    input:
        assignments=rules.assign_backgrounds.output.assignments,
        failures=rules.collect_failures.output.failures,
        index=rules.prepare_data.output.index,
        classes=rules.prepare_data.output.classes,
    output:
        edit="results/{dataset}/{model}/images/shards/{shard}/edit.parquet",
    params:
        generator=get_edit_generator,
        store="results/{dataset}/image_store",
        shard=get_shard,
    threads: 1
    log:
        "logs/{dataset}/{model}/edit_images_shard/{shard}.log",
    benchmark:
        "benchmarks/runs/{dataset}/{model}/edit_images_shard/{shard}.tsv"
    resources:
        gpu=1,
        mem_mb=cost_mem_mb("edit_images_shard", 8000),
        runtime=cost_runtime("edit_images_shard", 60),
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/edit_images.py"


rule edit_images:
    """A model's edit set: its debug_seed failures edited into its top-k backgrounds per class
    (clipmend.generation.edit; never a debug_heldout image), into the shared image store; or
    merged from its shards when one job would exceed cluster.max_job_hours."""
    input:
        assignments=rules.assign_backgrounds.output.assignments,
        failures=rules.collect_failures.output.failures,
        index=rules.prepare_data.output.index,
        classes=rules.prepare_data.output.classes,
        parts=get_shard_parts("edit_images", rules.edit_images_shard.output.edit),
    output:
        edit="results/{dataset}/{model}/images/edit.parquet",
    params:
        generator=get_edit_generator,
        store="results/{dataset}/image_store",
        shard=None,
    threads: 1
    log:
        "logs/{dataset}/{model}/edit_images.log",
    benchmark:
        "benchmarks/runs/{dataset}/{model}/edit_images.tsv"
    resources:
        gpu=generation_gpus("edit_images"),
        mem_mb=cost_mem_mb("edit_images", 8000),
        runtime=cost_runtime("edit_images", 60),
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/edit_images.py"


rule edit_features:
    input:
        edit=rules.edit_images.output.edit,
        classes=rules.prepare_data.output.classes,
        weights=get_model_weights,
    output:
        edit="results/{dataset}/{model}/gen_features/edit.parquet",
    params:
        model=get_model_entry,
    threads: 1
    log:
        "logs/{dataset}/{model}/edit_features.log",
    benchmark:
        "benchmarks/runs/{dataset}/{model}/edit_features.tsv"
    resources:
        gpu=1,
        mem_mb=cost_mem_mb("edit_features", 4000),
        runtime=cost_runtime("edit_features", 30),
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/extract_generated_features.py"
