"""Figure 5: the λ and k sweeps, each trained as one batched head per model."""


rule lambda_sweep:
    input:
        features=rules.extract_features.output.features,
        failure_head=rules.collect_failures.output.failure_head,
        failures=rules.collect_failures.output.failures,
        classes=rules.prepare_data.output.classes,
        gen=rules.generated_features.output.individual,
        heads=rules.debug_heads.output.heads,  # λ = 0 and λ = head.lambda, reused
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
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/paper_lambda_sweep.py"


rule k_sweep:
    input:
        features=rules.extract_features.output.features,
        failure_head=rules.collect_failures.output.failure_head,
        failures=rules.collect_failures.output.failures,
        classes=rules.prepare_data.output.classes,
        assignments=rules.assign_backgrounds.output.assignments,
        manifest=get_debug_manifest("individual"),  # filtered when filter.enabled, as gen
        gen=rules.generated_features.output.individual,
        heads=rules.debug_heads.output.heads,  # k = generator.k (the whole set), reused
    output:
        sweep="results/{dataset}/{model}/sweeps/k.csv",
    params:
        head=config["head"],
        ks=get_k_values,
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
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/paper_k_sweep.py"


rule collect_sweep:
    input:
        sweeps=expand("results/{{dataset}}/{model}/sweeps/{{sweep}}.csv", model=MODELS),
    output:
        **report_outputs(
            "Sweeps of λ and k (Figure 5)",
            table="results/{dataset}/paper/{sweep}_sweep.csv",
            png="results/{dataset}/paper/{sweep}_sweep.png",
        ),
    params:
        mark=get_sweep_mark,
    log:
        "logs/{dataset}/paper/collect_{sweep}_sweep.log",
    localrule: True
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/paper_collect_sweep.py"
