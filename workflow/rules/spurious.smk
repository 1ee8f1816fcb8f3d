"""The second paper (Yang et al. 2023, target ``spurious``): detection by accuracy discrepancy,
CLIP fine-tuned against the spurious attributes, and both papers compared on the same groups.

Per data set, under results/{dataset}/spurious/:
  {clip_model}/features.pt                  pre-projection features of every image and prompt
  detect/{source}.csv                       §4 per source: a CLIP model zero-shot or a first-paper model
  detect.csv, detect_precision.csv,         merged; precision@1 against each class's common attribute;
  delta_heatmap.png                         δ per class and attribute
  {clip_model}/methods/{method}.pt/.parquet  each method's projections or head, and its val/test predictions
  {clip_model}/methods/{method}_history.csv  fine-tuning history (loss terms, validation WGA per epoch)
  {clip_model}/aiou/{method}.csv            AIoU of GradCAM vs object masks (data sets with masks)
  group_metrics.csv                         long: accuracy of every (class, attribute) and coarse group
  comparison.csv/.md/.tex, wga.png,         both papers' methods: worst-group, average, adjusted
  group_accuracy.png                        accuracy and AIoU
The library side is clipmend.spurious (steps.py names each step).
"""


def get_spurious_clip_models():
    """CLIP models to fine-tune: ``spurious.clip_models``, else the top-level ``clip`` named ``clip``."""
    models = config["spurious"].get("clip_models") or {
        "clip": {k: config["clip"][k] for k in ("arch", "weights")}
    }
    clash = sorted(set(models) & set(MODELS))
    if clash:
        raise ValueError(f"spurious.clip_models names {clash} are also model names; rename them")
    return models


SPURIOUS_CLIP_MODELS = list(get_spurious_clip_models())
SPURIOUS_METHODS = list(config["spurious"]["methods"])
DETECTOR_CLIP = SPURIOUS_CLIP_MODELS[0]  # its features give CLIP presence and zero-shot detection


wildcard_constraints:
    clip_model="|".join(map(re.escape, SPURIOUS_CLIP_MODELS)),
    method="|".join(SPURIOUS_METHODS),


def get_spurious_clip(wildcards):
    """The arch and weights of ``wildcards.clip_model`` (a params value)."""
    return dict(get_spurious_clip_models()[wildcards.clip_model])


def get_spurious_clip_weights(wildcards):
    """The CLIP checkpoint file of ``wildcards.clip_model`` when it is a file (``train``: the demo CLIP)."""
    entry = get_spurious_clip_models()[wildcards.clip_model]
    weights = str(entry["weights"])
    if weights == "train":
        if entry["arch"] != config["clip"]["arch"]:
            raise ValueError(
                f"spurious.clip_models.{wildcards.clip_model}: weights train is the workflow's CLIP of "
                f"arch {config['clip']['arch']!r}, not {entry['arch']!r}"
            )
        return f"results/{wildcards.dataset}/clip/clip.pt"
    if weights.endswith((".pt", ".pth", ".bin", ".safetensors")):
        return weights
    return []


def get_method_settings(wildcards):
    """What ``wildcards.method`` depends on (a params value): a change re-runs only the methods it touches."""
    from clipmend.spurious import METHOD_LOSSES

    if wildcards.method == "zeroshot":
        return {}
    if wildcards.method == "linear_probe":
        return {"head": config["head"]}
    finetune = dict(config["spurious"]["finetune"])
    weights = finetune.pop("loss_weights", {})
    finetune["loss_weights"] = {k: weights.get(k, 1.0) for k in METHOD_LOSSES[wildcards.method]}
    return {"finetune": finetune}


def get_detect_inputs(wildcards):
    """A detection source's inputs: the detector CLIP's features, plus a first-paper model's own files."""
    inputs = {"clip": f"results/{wildcards.dataset}/spurious/{DETECTOR_CLIP}/features.pt"}
    if wildcards.source in SPURIOUS_CLIP_MODELS:
        inputs["clip"] = f"results/{wildcards.dataset}/spurious/{wildcards.source}/features.pt"
    else:
        model = {"dataset": wildcards.dataset, "model": wildcards.source}
        inputs["features"] = expand(rules.extract_features.output.features, **model)[0]
        inputs["failure_head"] = expand(rules.collect_failures.output.failure_head, **model)[0]
    return inputs


def spurious_files(dataset):
    """Everything ``spurious`` builds for one data set."""
    stem = f"results/{dataset}/spurious"
    files = ["detect.csv", "detect_precision.csv", "delta_heatmap.png", "group_metrics.csv", "wga.png",
             "group_accuracy.png"] + [f"comparison.{ext}" for ext in ("csv", "md", "tex")]
    return [f"{stem}/{f}" for f in files]


def get_spurious_targets():
    """Everything ``spurious`` builds, per data set."""
    return [f for d in DATASETS for f in spurious_files(d)]


rule spurious_clip_features:
    input:
        index=rules.prepare_data.output.index,
        classes=rules.prepare_data.output.classes,
        weights=get_spurious_clip_weights,
    output:
        features="results/{dataset}/spurious/{clip_model}/features.pt",
    params:
        clip=get_spurious_clip,
        templates=get_config("spurious", "templates"),
        attribute_prompt=get_config("spurious", "attribute_prompt"),
        attribute_phrases=config["spurious"]["attribute_phrases"],
    threads: 1
    log:
        "logs/{dataset}/spurious/{clip_model}/clip_features.log",
    benchmark:
        "benchmarks/runs/{dataset}/spurious/{clip_model}/clip_features.tsv"
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=lambda wc, attempt: 60 * attempt,
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/spurious_clip_features.py"


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
        "../../envs/clipmend.yaml"
    script:
        "../scripts/spurious_detect.py"


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
    log:
        "logs/{dataset}/spurious/collect_detections.log",
    localrule: True
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/spurious_collect_detections.py"


rule spurious_train:
    input:
        features=rules.spurious_clip_features.output.features,
    output:
        model="results/{dataset}/spurious/{clip_model}/methods/{method}.pt",
        predictions="results/{dataset}/spurious/{clip_model}/methods/{method}.parquet",
        history="results/{dataset}/spurious/{clip_model}/methods/{method}_history.csv",
    params:
        settings=get_method_settings,
    threads: 1
    log:
        "logs/{dataset}/spurious/{clip_model}/train_{method}.log",
    benchmark:
        "benchmarks/runs/{dataset}/spurious/{clip_model}/train_{method}.tsv"
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=lambda wc, attempt: 120 * attempt,
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/spurious_train.py"


rule spurious_aiou:
    input:
        features=rules.spurious_clip_features.output.features,
        model=rules.spurious_train.output.model,
        weights=get_spurious_clip_weights,
    output:
        aiou="results/{dataset}/spurious/{clip_model}/aiou/{method}.csv",
    params:
        aiou=config["spurious"]["aiou"],
    threads: 1
    log:
        "logs/{dataset}/spurious/{clip_model}/aiou_{method}.log",
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=lambda wc, attempt: 60 * attempt,
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/spurious_aiou.py"


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
        "../../envs/clipmend.yaml"
    script:
        "../scripts/spurious_compare.py"
