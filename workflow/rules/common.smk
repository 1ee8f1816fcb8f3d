"""Input functions and path helpers. Nothing here imports torch or scans files."""

import re


run_settings = load_pure("run_settings")
cost = load_pure("cost")


def cost_mem_mb(rule, floor):
    """``mem_mb`` of a rule from its projected peak host memory (clipmend.cost), at least ``floor``.

    benchmarks/paper_scale.py projects the same numbers, so the two agree by construction.
    """

    def mem_mb(wildcards, threads, attempt):
        model = getattr(wildcards, "model", None)
        return cost.mem_mb(rule, config, wildcards.dataset, model, attempt, floor, threads)

    return mem_mb


def cost_runtime(rule, floor):
    """``runtime`` (minutes) of a rule: 1.5 x its projected time on cost.GPU, at least ``floor``."""

    def runtime(wildcards, threads, attempt):
        model = getattr(wildcards, "model", None)
        return cost.runtime_min(rule, config, wildcards.dataset, model, attempt, floor, threads)

    return runtime

DATASETS = list(config["datasets"])
MODELS = list(config["models"])
GENERATED_SETS = ["individual", "random"]


wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)),
    model="|".join(map(re.escape, MODELS)),


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
    return {k: config["clip"][k] for k in ("arch", "weights")}


def get_family(wildcards):
    return config["models"][wildcards.model]["family"]


def get_all_models_targets():
    """Everything ``all_models`` builds."""
    return expand("results/{dataset}/metrics.csv", dataset=DATASETS) + expand(
        "results/{dataset}/clip_assignment_accuracy.csv", dataset=DATASETS
    )


def get_section(section):
    """Config section ``section`` without its run settings (device, batch sizes, memory): a params value.

    Run settings change how fast, never what, so they must not make Snakemake re-run a rule;
    scripts read them with ``RunSettings.from_config(snakemake.config)``.
    """
    return run_settings.strip_run_settings(section, config[section])


def get_config(*keys):
    """A params function returning ``config[k1][k2]...`` (strings with braces stay literal)."""

    def value(wildcards):
        node = config
        for key in keys:
            node = node[key]
        return node

    return value


# --- paper rules (workflow/rules/paper.smk) -------------------------------------------
# Plain Python over the config: no pandas or clipmend imports at parse time.


def get_model_families():
    """Each model's family, models in config order (a params value)."""
    return {m: str(entry["family"]) for m, entry in config["models"].items()}


def get_family_members():
    """Each family's members, families and members in config order (as collective.family_sources)."""
    members = {}
    for model, family in get_model_families().items():
        members.setdefault(family, []).append(model)
    return members


def get_representatives():
    """Each family's type-2 representative: ``paper.representatives``, else its first member."""
    members = get_family_members()
    chosen = dict(config["paper"].get("representatives") or {})
    for family, model in chosen.items():
        if family not in members:
            raise ValueError(
                f"paper.representatives names unknown family {family!r}; families: {list(members)}"
            )
        if model not in members[family]:
            raise ValueError(
                f"paper.representatives: {model!r} is not a member of family {family!r} "
                f"({members[family]})"
            )
    return {family: chosen.get(family, models[0]) for family, models in members.items()}


def get_source_names():
    """Every generated set of the collective matrix: ``model-X`` per model, ``family-F`` per family."""
    return [f"model-{m}" for m in MODELS] + [f"family-{f}" for f in get_family_members()]


def get_source_manifest(dataset, source):
    """The image manifest of a generated set named ``model-X`` or ``family-F``."""
    kind, name = source.split("-", 1)
    if kind == "model":
        return f"results/{dataset}/{name}/images/individual.parquet"
    return f"results/{dataset}/families/{name}/images/collective.parquet"


def get_family_assignments(wildcards):
    """The assignments of every member of ``wildcards.family``."""
    return expand(
        "results/{dataset}/{model}/assignments.parquet",
        dataset=wildcards.dataset,
        model=get_family_members()[wildcards.family],
    )


def get_family_member_list(wildcards):
    """The members of ``wildcards.family`` (a params value, aligned with its assignments)."""
    return get_family_members()[wildcards.family]


def get_cross_source_names(wildcards):
    """The generated sets a target model needs features of, besides its own individual set."""
    return [s for s in get_source_names() if s != f"model-{wildcards.model}"]


def get_cross_manifests(wildcards):
    """Manifests of ``get_cross_source_names`` (same order)."""
    return [get_source_manifest(wildcards.dataset, s) for s in get_cross_source_names(wildcards)]


def get_collective_sources(wildcards):
    """Sources of a target's collective heads: name, kind, family and the target's feature file."""
    families = get_model_families()
    root = f"results/{wildcards.dataset}/{wildcards.model}"
    sources = []
    for source in get_source_names():
        kind, name = source.split("-", 1)
        if source == f"model-{wildcards.model}":
            path = f"{root}/gen_features/individual.parquet"
        else:
            path = f"{root}/cross_features/{source}.parquet"
        family = families[name] if kind == "model" else name
        sources.append({"name": name, "kind": kind, "family": family, "path": path})
    return sources


def get_lambdas():
    """The λ values of the λ sweep (``paper.lambdas``)."""
    return [float(v) for v in config["paper"]["lambdas"]]


def get_k_values():
    """The k values of the k sweep: ``paper.k``, else 1 to ``generator.k``; at most ``generator.k``."""
    ks = config["paper"].get("k") or list(range(1, int(config["generator"]["k"]) + 1))
    if max(ks) > int(config["generator"]["k"]):
        raise ValueError(
            f"paper.k goes up to {max(ks)} but the generated sets hold generator.k = "
            f"{config['generator']['k']} backgrounds per class; raise generator.k or lower paper.k"
        )
    return [int(k) for k in ks]


def _path_mb(path):
    """Size of a file, or of the files in a directory (an output of ``directory()``), in MB."""
    import os

    if not os.path.isdir(path):
        return os.path.getsize(path) / 2**20
    return sum(e.stat().st_size for e in os.scandir(path) if e.is_file()) / 2**20


def get_head_mem_mb(wildcards, input, attempt):
    """Host memory (MB) of a head-training job (debug_heads and the paper's head rules).

    Sized from the job's own inputs when it is scheduled (<TBD> in a dry run before they
    exist), by ``clipmend.cost.head_job_mem_mb``; nothing is scanned at parse time.
    """
    settings = run_settings.RunSettings.from_config(config)
    features_mb = sum(_path_mb(p) for p in input)
    return cost.head_job_mem_mb(features_mb, settings.device, settings.host_memory_gb, attempt)


def get_paper_targets():
    """Everything ``paper`` builds, per data set."""
    files = [
        "iou.csv",
        "iou_summary.csv",
        "iou.png",
        "collective_matrix.csv",
        "collective_matrix.png",
        "metrics_all.csv",
        "relative_accuracy.csv",
        "relative_accuracy.png",
        "resolved_overlap.csv",
        "resolved_overlap_summary.csv",
        "lambda_sweep.csv",
        "lambda_sweep.png",
        "k_sweep.csv",
        "k_sweep.png",
    ]
    files += [f"{t}.{ext}" for t in ("table1", "table2", "table3", "experiments")
              for ext in ("csv", "md", "tex")]
    files += [f"gallery/{m}.png" for m in MODELS]
    files += [f"generated/{s}.png" for s in get_source_names()]
    return [f"results/{d}/paper/{f}" for d in DATASETS for f in files]
