"""Re-detection after the fix (the Whac-A-Mole check): δ per class and attribute before and after debugging."""


rule paper_redetect:
    input:
        index=rules.prepare_data.output.index,
        classes=rules.prepare_data.output.classes,
        features=expand(rules.extract_features.output.features, model=MODELS, allow_missing=True),
        failure_heads=expand(rules.collect_failures.output.failure_head, model=MODELS, allow_missing=True),
        seeds=expand(rules.debug_head_seeds.output.predictions, model=MODELS, allow_missing=True),
        assignments=expand(rules.assign_backgrounds.output.assignments, model=MODELS, allow_missing=True),
    output:
        table=report("results/{dataset}/paper/redetect.csv", category="Spurious", subcategory="{dataset}"),
        figure=report("results/{dataset}/paper/redetect.png", category="Spurious", subcategory="{dataset}"),
    params:
        models=MODELS,
        k=config["generator"]["k"],
        min_detect=config["spurious"]["detect"]["min_detect"],
        kind=get_dataset_kind,  # the data set's resolver of background phrases to attribute values
    log:
        "logs/{dataset}/paper/redetect.log",
    resources:
        mem_mb=4000,
        runtime=lambda wc, attempt: 20 * attempt,
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/paper_redetect.py"
