"""Detection by accuracy discrepancy (§4): per source, then merged with precision@1 and the δ heat map."""


rule spurious_detect:
    input:
        unpack(get_detect_inputs),
    output:
        detections="results/{dataset}/spurious/detect/{source}.csv",
    params:
        detect=config["spurious"]["detect"],
    wildcard_constraints:
        source="|".join(map(re.escape, SPURIOUS_CLIP_MODELS + MODELS)),
    log:
        "logs/{dataset}/spurious/detect/{source}.log",
    resources:
        mem_mb=4000,
        runtime=lambda wc, attempt: 20 * attempt,
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/spurious_detect.py"


rule spurious_collect_detections:
    input:
        detections=expand(
            "results/{{dataset}}/spurious/detect/{source}.csv", source=SPURIOUS_CLIP_MODELS + MODELS
        ),
        index=rules.prepare_data.output.index,
    output:
        detections="results/{dataset}/spurious/detect.csv",
        precision="results/{dataset}/spurious/detect_precision.csv",
        heatmap="results/{dataset}/spurious/delta_heatmap.png",
    params:
        families=get_source_families(),
    log:
        "logs/{dataset}/spurious/collect_detections.log",
    localrule: True
    conda:
        "../../../envs/clipmend.yaml"
    script:
        "../../scripts/spurious_collect_detections.py"
