"""Input functions and path helpers. Nothing here imports torch or scans files."""

import re

DATASETS = list(config["datasets"])
MODELS = list(config["models"])
GENERATED_SETS = ["individual", "random"]


wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)),
    model="|".join(map(re.escape, MODELS)),
    gset="|".join(GENERATED_SETS),


def get_model_entry(wildcards):
    """The config entry of one model, as a plain dict (tracked by params)."""
    return dict(config["models"][wildcards.model])


def get_dataset_entry(wildcards):
    """The config entry of one data set, as a plain dict (tracked by params)."""
    return dict(config["datasets"][wildcards.dataset])


def get_model_weights(wildcards):
    """The checkpoint a model's features need: trained by the workflow, or a configured file."""
    weights = str(config["models"][wildcards.model].get("weights", "pretrained"))
    if weights == "train":
        return f"results/{wildcards.dataset}/backbones/{wildcards.model}.pth"
    if weights == "pretrained":
        return []
    return weights


def get_clip_weights(wildcards):
    """The CLIP checkpoint file, when it is a file (trained by the workflow or configured)."""
    weights = str(config["clip"]["weights"])
    if weights == "train":
        return f"results/{wildcards.dataset}/clip/clip.pt"
    if weights.endswith((".pt", ".pth", ".bin", ".safetensors")):
        return weights
    return []


def get_dedup_clip_weights(wildcards):
    """CLIP's checkpoint, when near-synonym de-duplication of backgrounds needs it."""
    if config["llm"].get("dedup_threshold") is None:
        return []
    return get_clip_weights(wildcards)


def get_dedup_clip(wildcards):
    """The CLIP settings that near-synonym de-duplication uses (None when it is off)."""
    if config["llm"].get("dedup_threshold") is None:
        return None
    return {k: config["clip"][k] for k in ("arch", "weights")} | {"device": config["device"]}


def get_family(wildcards):
    return config["models"][wildcards.model]["family"]


def get_all_models_targets():
    """Everything ``all_models`` builds."""
    return expand("results/{dataset}/metrics.csv", dataset=DATASETS) + expand(
        "results/{dataset}/clip_assignment_accuracy.csv", dataset=DATASETS
    )


def get_config(*keys):
    """A params function returning ``config[k1][k2]...`` (strings with braces stay literal)."""

    def value(wildcards):
        node = config
        for key in keys:
            node = node[key]
        return node

    return value
