"""Figure 4: failure IoU of every model pair, and its within/across-family summary."""


rule failure_iou:
    input:
        failures=expand(rules.collect_failures.output.failures, model=MODELS, allow_missing=True),
    output:
        **report_outputs(
            "Failure IoU (Figure 4)",
            iou="results/{dataset}/paper/iou.csv",
            summary="results/{dataset}/paper/iou_summary.csv",
            png="results/{dataset}/paper/iou.png",
        ),
    params:
        models=MODELS,
        families=get_model_families(),
    log:
        "logs/{dataset}/paper/failure_iou.log",
    localrule: True
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/paper_iou.py"
