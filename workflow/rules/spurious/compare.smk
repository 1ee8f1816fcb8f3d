"""Both papers' methods on the same test groups: group metrics, comparison table, figures."""


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
    output:
        group_metrics="results/{dataset}/spurious/group_metrics.csv",
        comparison="results/{dataset}/spurious/comparison.csv",
        comparison_md="results/{dataset}/spurious/comparison.md",
        comparison_tex="results/{dataset}/spurious/comparison.tex",
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
