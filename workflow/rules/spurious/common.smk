"""Input functions and path helpers of the second paper's rules (``workflow/rules/spurious/``)."""

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


SPURIOUS_TERMS = ("vs", "ls")  # the loss terms that read each class's spurious attributes


def _uses_attributes(method):
    from clipmend.spurious import METHOD_LOSSES

    return bool(set(METHOD_LOSSES.get(method, ())) & set(SPURIOUS_TERMS))


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
    if not _uses_attributes(wildcards.method):
        finetune.pop("spurious_source", None)
        finetune.pop("attributes_per_class", None)
    return {"finetune": finetune}


def get_method_seeds(wildcards):
    """The seeds a method runs (a params value): the fine-tuned methods' ``finetune_seeds`` (null: ``seeds``),
    the first of ``seeds`` for the others."""
    from clipmend.spurious import METHOD_LOSSES

    seeds = list(config["spurious"]["seeds"])
    if wildcards.method not in METHOD_LOSSES:
        return seeds[:1]
    return list(config["spurious"].get("finetune_seeds") or seeds)


def get_spurious_source(clip_model):
    """The detection source whose detect csv gives the classes' spurious attributes (None: the oracle)."""
    source = config["spurious"]["finetune"].get("spurious_source", "self")
    if source == "oracle":
        return None
    source = clip_model if source == "self" else source
    if source not in SPURIOUS_CLIP_MODELS + MODELS:
        raise ValueError(
            f"spurious.finetune.spurious_source is {source!r}; valid: self, oracle or a detection source "
            f"{SPURIOUS_CLIP_MODELS + MODELS}"
        )
    return source


def get_train_detections(wildcards):
    """The detect csv a method's spurious terms read (detect -> fine-tune); none for the other methods or the oracle."""
    source = get_spurious_source(wildcards.clip_model)
    if source is None or not _uses_attributes(wildcards.method):
        return []
    return f"results/{wildcards.dataset}/spurious/detect/{source}.csv"


def get_head_seeds_runtime(wildcards, threads, attempt):
    """``debug_head_seeds``' runtime: debug_heads' (3 heads) scaled to its 1 + 2 x seeds heads."""
    import math

    heads = 1 + 2 * len(config["spurious"]["seeds"])
    base = cost.runtime_min("debug_heads", config, wildcards.dataset, wildcards.model, attempt, 30, threads)
    return base * math.ceil(heads / 3)


def get_source_families():
    """Each first-paper model's family (the detection figure's panels; CLIP models are their own)."""
    from clipmend.config import model_families

    return {m: f for m, f in model_families(config["models"]).items() if m in MODELS}


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
             "group_accuracy.png", "comparison_seeds.csv", "paired.csv"]
    files += [f"comparison.{ext}" for ext in ("csv", "md", "tex")]
    return [f"{stem}/{f}" for f in files]


def get_spurious_targets():
    """Everything ``spurious`` builds, per data set."""
    return [f for d in DATASETS for f in spurious_files(d)]
