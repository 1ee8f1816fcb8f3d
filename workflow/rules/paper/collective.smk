"""Collective debugging (Table 3, Figure 6): pooled family sets, and every target trained
with every generated set (the collective matrix)."""


rule pool_assignments:
    input:
        assignments=get_family_assignments,
    output:
        assignments="results/{dataset}/families/{family}/assignments.parquet",
    params:
        members=get_family_member_list,
        strict=config["paper"]["strict_pool"],
    log:
        "logs/{dataset}/families/{family}/pool_assignments.log",
    localrule: True
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/paper_pool_assignments.py"


rule generate_collective_shard:
    input:
        assignments=rules.pool_assignments.output.assignments,
        classes=rules.prepare_data.output.classes,
    output:
        collective="results/{dataset}/families/{family}/images/shards/{shard}/collective.parquet",
    params:
        generator=get_section("generator"),
        store="results/{dataset}/image_store",
        shard=get_shard,
    threads: 1
    log:
        "logs/{dataset}/families/{family}/generate_collective_shard/{shard}.log",
    benchmark:
        "benchmarks/runs/{dataset}/families/{family}/generate_collective_shard/{shard}.tsv"
    resources:
        gpu=1,
        mem_mb=cost_mem_mb("generate_collective_shard", 8000),
        runtime=cost_runtime("generate_collective_shard", 60),
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/paper_generate_collective.py"


rule generate_collective:
    """A family's set: generated here, or merged from its shards (as generate_images)."""
    input:
        assignments=rules.pool_assignments.output.assignments,
        classes=rules.prepare_data.output.classes,
        parts=get_shard_parts("generate_collective", rules.generate_collective_shard.output.collective),
    output:
        collective="results/{dataset}/families/{family}/images/collective.parquet",
    params:
        generator=get_section("generator"),
        store="results/{dataset}/image_store",
        shard=None,
    threads: 1
    log:
        "logs/{dataset}/families/{family}/generate_collective.log",
    benchmark:
        "benchmarks/runs/{dataset}/families/{family}/generate_collective.tsv"
    resources:
        gpu=generation_gpus("generate_collective"),
        mem_mb=cost_mem_mb("generate_collective", 8000),
        runtime=cost_runtime("generate_collective", 60),
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/paper_generate_collective.py"


rule score_collective_images:
    """CLIP's scores of the families' pooled sets (filter.enabled): only the images no model's
    set holds are embedded; the rest are copied from the models' scores table."""
    input:
        manifests=expand(rules.generate_collective.output.collective, family=get_family_members(),
                         allow_missing=True),
        known=rules.score_generated_images.output.scores,
        backgrounds=rules.propose_backgrounds.output.backgrounds,
        classes=rules.prepare_data.output.classes,
        weights=get_clip_weights,
    output:
        scores="results/{dataset}/filter/collective_scores.parquet",
    params:
        arch=config["clip"]["arch"],
        weights=config["clip"]["weights"],
        prompt=get_config("clip", "prompt"),
    threads: 1
    log:
        "logs/{dataset}/score_collective_images.log",
    benchmark:
        "benchmarks/runs/{dataset}/score_collective_images.tsv"
    resources:
        gpu=1,
        mem_mb=cost_mem_mb("score_collective_images", 4000),
        runtime=cost_runtime("score_collective_images", 30),
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/score_generated_images.py"


rule filter_collective:
    """Every family's pooled set with its images' scores, what falls below filter.thresholds marked
    dropped, as filter_images does for the models' sets (collective debugging trains on the kept)."""
    input:
        collective=expand(rules.generate_collective.output.collective, family=get_family_members(),
                          allow_missing=True),
        scores=rules.score_collective_images.output.scores,
    output:
        collective=expand("results/{{dataset}}/families/{family}/images/filtered/collective.parquet",
                          family=get_family_members()),
    params:
        thresholds=get_config("filter", "thresholds"),
    log:
        "logs/{dataset}/filter_collective.log",
    benchmark:
        "benchmarks/runs/{dataset}/filter_collective.tsv"
    localrule: True
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/filter_images.py"


rule cross_features:
    input:
        manifests=get_cross_manifests,
        own=[rules.generated_features.output.individual, rules.generated_features.output.random],
        classes=rules.prepare_data.output.classes,
        weights=get_model_weights,
    output:
        features=directory("results/{dataset}/{model}/cross_features"),
    params:
        sources=get_cross_source_names,
        model=get_model_entry,
    threads: 1
    log:
        "logs/{dataset}/{model}/cross_features.log",
    benchmark:
        "benchmarks/runs/{dataset}/{model}/cross_features.tsv"
    resources:
        gpu=1,
        mem_mb=cost_mem_mb("cross_features", 8000),
        runtime=cost_runtime("cross_features", 60),
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/paper_cross_features.py"


rule collective_heads:
    input:
        features=rules.extract_features.output.features,
        failure_head=rules.collect_failures.output.failure_head,
        failures=rules.collect_failures.output.failures,
        classes=rules.prepare_data.output.classes,
        own=rules.generated_features.output.individual,
        cross=rules.cross_features.output.features,
        heads=rules.debug_heads.output.heads,  # the own-set head (individual debugging), reused
    output:
        matrix="results/{dataset}/{model}/collective/matrix.csv",
        metrics="results/{dataset}/{model}/collective/metrics.csv",
        resolution="results/{dataset}/{model}/collective/resolution.csv",
    params:
        head=config["head"],
        family=get_family,
        families=get_model_families(),
        representatives=get_representatives(),
        sources=get_collective_sources,
    threads: 1
    log:
        "logs/{dataset}/{model}/collective_heads.log",
    benchmark:
        "benchmarks/runs/{dataset}/{model}/collective_heads.tsv"
    resources:
        gpu=1,  # one set at a time: heads train and predict on the run's device
        mem_mb=get_collective_mem_mb,  # features + the largest set (streamed), common.smk
        runtime=cost_runtime("collective_heads", 30),
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/paper_collective_heads.py"


rule collect_collective:
    input:
        metrics=rules.collect_metrics.output.metrics,
        matrices=expand(rules.collective_heads.output.matrix, model=MODELS, allow_missing=True),
        collective=expand(rules.collective_heads.output.metrics, model=MODELS, allow_missing=True),
        resolutions=expand(
            rules.collective_heads.output.resolution, model=MODELS, allow_missing=True
        ),
        heads=expand(rules.debug_heads.output.heads, model=MODELS, allow_missing=True),  # provenance
    output:
        **report_outputs(
            "Collective debugging (Table 3, Figure 6)",
            matrix="results/{dataset}/paper/collective_matrix.csv",
            matrix_png="results/{dataset}/paper/collective_matrix.png",
            relative="results/{dataset}/paper/relative_accuracy.csv",
            relative_png="results/{dataset}/paper/relative_accuracy.png",
            overlap="results/{dataset}/paper/resolved_overlap.csv",
            overlap_summary="results/{dataset}/paper/resolved_overlap_summary.csv",
        ),
        **report_outputs("Accuracy", metrics="results/{dataset}/paper/metrics_all.csv"),
    log:
        "logs/{dataset}/paper/collect_collective.log",
    localrule: True
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/paper_collect_collective.py"
