"""The paper's analyses (§5, Tables 1-3 and 6, Figures 2-6), on top of ``all_models``.

Per data set, under results/{dataset}/paper/:
  iou.csv, iou_summary.csv, iou.png      Figure 4: failure IoU of every model pair
  collective_matrix.csv/.png             every target's head trained with every generated set
  metrics_all.csv                        metrics.csv plus the strategies collective_family
                                         (type 1: the family's pooled set) and collective_single
                                         (type 2: the family representative's individual set)
  relative_accuracy.csv/.png             Figure 6: collective / individual heldout accuracy
  resolved_overlap.csv, _summary.csv     share of the heldout failures individual debugging
                                         resolves that collective debugging also resolves
  lambda_sweep.csv/.png, k_sweep.csv/.png  Figure 5 (panels per family)
  table{1,2,3}.*, experiments.*          Tables 1, 2 (= 6), 3 and one row per experiment
  gallery/{model}.png                    Figure 3: failures, true/predicted class, CLIP background
  generated/{model-X|family-F}.png       Figure 2: generated images per class and background

Intermediate files: families/{family}/assignments.parquet and images/collective.parquet
(pooled sets), {model}/cross_features/ (other sets through the model's backbone; its own
set's features are reused), {model}/collective/*.csv, {model}/sweeps/{lambda,k}.csv.
"""


wildcard_constraints:
    family="|".join(map(re.escape, get_family_members())),
    source="|".join(map(re.escape, get_source_names())),
    sweep="lambda|k",


rule failure_iou:
    input:
        failures=expand("results/{{dataset}}/{model}/failures.parquet", model=MODELS),
    output:
        iou=report(
            "results/{dataset}/paper/iou.csv",
            category="Failure IoU (Figure 4)",
            subcategory="{dataset}",
        ),
        summary=report(
            "results/{dataset}/paper/iou_summary.csv",
            category="Failure IoU (Figure 4)",
            subcategory="{dataset}",
        ),
        png=report(
            "results/{dataset}/paper/iou.png",
            category="Failure IoU (Figure 4)",
            subcategory="{dataset}",
        ),
    params:
        models=MODELS,
        families=get_model_families(),
    log:
        "logs/{dataset}/paper/failure_iou.log",
    localrule: True
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/paper_iou.py"


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
        "../../envs/clipmend.yaml"
    script:
        "../scripts/paper_pool_assignments.py"


rule generate_collective:
    input:
        assignments=rules.pool_assignments.output.assignments,
        classes=rules.prepare_data.output.classes,
    output:
        collective="results/{dataset}/families/{family}/images/collective.parquet",
    params:
        generator=get_section("generator"),
        store="results/{dataset}/image_store",
    threads: 1
    log:
        "logs/{dataset}/families/{family}/generate_collective.log",
    benchmark:
        "benchmarks/runs/{dataset}/families/{family}/generate_collective.tsv"
    resources:
        gpu=1,
        mem_mb=cost_mem_mb("generate_collective", 8000),
        runtime=cost_runtime("generate_collective", 60),
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/paper_generate_collective.py"


rule cross_features:
    input:
        manifests=get_cross_manifests,
        own=expand(
            "results/{{dataset}}/{{model}}/gen_features/{gset}.parquet", gset=GENERATED_SETS
        ),
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
        "../../envs/clipmend.yaml"
    script:
        "../scripts/paper_cross_features.py"


rule collective_heads:
    input:
        features=rules.extract_features.output.features,
        classifier=rules.collect_failures.output.head,
        failures=rules.collect_failures.output.failures,
        classes=rules.prepare_data.output.classes,
        own="results/{dataset}/{model}/gen_features/individual.parquet",
        cross=rules.cross_features.output.features,
        head=rules.debug_heads.output.head,  # the own-set head (individual debugging), reused
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
        gpu=1,  # heads train on the run's device, chunked to the memory budget
        mem_mb=get_head_mem_mb,  # features as read + the planner's host share (common.smk)
        runtime=cost_runtime("collective_heads", 30),
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/paper_collective_heads.py"


rule collect_collective:
    input:
        metrics="results/{dataset}/metrics.csv",
        matrices=expand("results/{{dataset}}/{model}/collective/matrix.csv", model=MODELS),
        collective=expand("results/{{dataset}}/{model}/collective/metrics.csv", model=MODELS),
        resolutions=expand(
            "results/{{dataset}}/{model}/collective/resolution.csv", model=MODELS
        ),
    output:
        matrix=report(
            "results/{dataset}/paper/collective_matrix.csv",
            category="Collective debugging (Table 3, Figure 6)",
            subcategory="{dataset}",
        ),
        matrix_png=report(
            "results/{dataset}/paper/collective_matrix.png",
            category="Collective debugging (Table 3, Figure 6)",
            subcategory="{dataset}",
        ),
        metrics=report(
            "results/{dataset}/paper/metrics_all.csv",
            category="Accuracy",
            subcategory="{dataset}",
        ),
        relative=report(
            "results/{dataset}/paper/relative_accuracy.csv",
            category="Collective debugging (Table 3, Figure 6)",
            subcategory="{dataset}",
        ),
        relative_png=report(
            "results/{dataset}/paper/relative_accuracy.png",
            category="Collective debugging (Table 3, Figure 6)",
            subcategory="{dataset}",
        ),
        overlap=report(
            "results/{dataset}/paper/resolved_overlap.csv",
            category="Collective debugging (Table 3, Figure 6)",
            subcategory="{dataset}",
        ),
        overlap_summary=report(
            "results/{dataset}/paper/resolved_overlap_summary.csv",
            category="Collective debugging (Table 3, Figure 6)",
            subcategory="{dataset}",
        ),
    log:
        "logs/{dataset}/paper/collect_collective.log",
    localrule: True
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/paper_collect_collective.py"


rule lambda_sweep:
    input:
        features=rules.extract_features.output.features,
        classifier=rules.collect_failures.output.head,
        failures=rules.collect_failures.output.failures,
        classes=rules.prepare_data.output.classes,
        gen="results/{dataset}/{model}/gen_features/individual.parquet",
        head=rules.debug_heads.output.head,  # λ = 0 and λ = head.lambda, reused
    output:
        sweep="results/{dataset}/{model}/sweeps/lambda.csv",
    params:
        head=config["head"],
        lambdas=get_lambdas(),
        family=get_family,
    threads: 1
    log:
        "logs/{dataset}/{model}/lambda_sweep.log",
    benchmark:
        "benchmarks/runs/{dataset}/{model}/lambda_sweep.tsv"
    resources:
        gpu=1,
        mem_mb=get_head_mem_mb,
        runtime=cost_runtime("lambda_sweep", 30),
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/paper_lambda_sweep.py"


rule k_sweep:
    input:
        features=rules.extract_features.output.features,
        classifier=rules.collect_failures.output.head,
        failures=rules.collect_failures.output.failures,
        classes=rules.prepare_data.output.classes,
        assignments=rules.assign_backgrounds.output.assignments,
        manifest="results/{dataset}/{model}/images/individual.parquet",
        gen="results/{dataset}/{model}/gen_features/individual.parquet",
        head=rules.debug_heads.output.head,  # k = generator.k (the whole set), reused
    output:
        sweep="results/{dataset}/{model}/sweeps/k.csv",
    params:
        head=config["head"],
        ks=lambda wildcards: get_k_values(),
        family=get_family,
    threads: 1
    log:
        "logs/{dataset}/{model}/k_sweep.log",
    benchmark:
        "benchmarks/runs/{dataset}/{model}/k_sweep.tsv"
    resources:
        gpu=1,
        mem_mb=get_head_mem_mb,
        runtime=cost_runtime("k_sweep", 30),
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/paper_k_sweep.py"


rule collect_sweep:
    input:
        expand("results/{{dataset}}/{model}/sweeps/{{sweep}}.csv", model=MODELS),
    output:
        table=report(
            "results/{dataset}/paper/{sweep}_sweep.csv",
            category="Sweeps of λ and k (Figure 5)",
            subcategory="{dataset}",
        ),
        png=report(
            "results/{dataset}/paper/{sweep}_sweep.png",
            category="Sweeps of λ and k (Figure 5)",
            subcategory="{dataset}",
        ),
    params:
        # the configured value, marked in the plot
        mark=lambda wildcards: (
            config["head"]["lambda"] if wildcards.sweep == "lambda" else config["generator"]["k"]
        ),
    log:
        "logs/{dataset}/paper/collect_{sweep}_sweep.log",
    localrule: True
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/paper_collect_sweep.py"


rule paper_tables:
    input:
        backgrounds=rules.propose_backgrounds.output.backgrounds,
        classes=rules.prepare_data.output.classes,
        metrics=rules.collect_collective.output.metrics,
    output:
        table1_csv=report(
            "results/{dataset}/paper/table1.csv", category="Tables", subcategory="{dataset}"
        ),
        table1_md="results/{dataset}/paper/table1.md",
        table1_tex="results/{dataset}/paper/table1.tex",
        table2_csv=report(
            "results/{dataset}/paper/table2.csv", category="Tables", subcategory="{dataset}"
        ),
        table2_md="results/{dataset}/paper/table2.md",
        table2_tex="results/{dataset}/paper/table2.tex",
        table3_csv=report(
            "results/{dataset}/paper/table3.csv", category="Tables", subcategory="{dataset}"
        ),
        table3_md="results/{dataset}/paper/table3.md",
        table3_tex="results/{dataset}/paper/table3.tex",
        experiments_csv=report(
            "results/{dataset}/paper/experiments.csv", category="Tables", subcategory="{dataset}"
        ),
        experiments_md="results/{dataset}/paper/experiments.md",
        experiments_tex="results/{dataset}/paper/experiments.tex",
    params:
        head=config["head"],
        generator=get_section("generator"),
    log:
        "logs/{dataset}/paper/paper_tables.log",
    localrule: True
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/paper_tables.py"


rule failure_gallery:
    input:
        assignments=rules.assign_backgrounds.output.assignments,
        index=rules.prepare_data.output.index,
        classes=rules.prepare_data.output.classes,
    output:
        png=report(
            "results/{dataset}/paper/gallery/{model}.png",
            category="Failures and their backgrounds (Figure 3)",
            subcategory="{dataset}",
        ),
    params:
        n=config["paper"]["gallery_size"],
    log:
        "logs/{dataset}/paper/gallery_{model}.log",
    localrule: True
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/paper_gallery.py"


rule generated_grid:
    input:
        manifest=lambda wildcards: get_source_manifest(wildcards.dataset, wildcards.source),
    output:
        png=report(
            "results/{dataset}/paper/generated/{source}.png",
            category="Generated images (Figure 2)",
            subcategory="{dataset}",
        ),
    log:
        "logs/{dataset}/paper/generated_{source}.log",
    localrule: True
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/paper_generated_grid.py"
