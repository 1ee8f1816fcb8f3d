"""Input functions and path helpers of the core rules. Nothing here imports torch or scans files.

The paper's helpers are in ``workflow/rules/paper/common.smk``.
"""

import re

from clipmend import config as clipmend_config
from clipmend import cost, run_settings


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


_shard_counts = {}  # (dataset, rule) -> shard count, computed once per parse


def shard_names(dataset, rule):
    """The shard jobs of one set of generation ``rule`` (``I``of``N``): N from clipmend.cost.

    Each shard is a contiguous class range sized so that the rule's first (unshared) job
    fits ``cluster.max_job_hours``; one shard means the rule generates its set itself.
    """
    shards = _shard_counts.get((dataset, rule))
    if shards is None:
        shards = _shard_counts[dataset, rule] = cost.generation_shards(config, dataset, rule)
    return [f"{i}of{shards}" for i in range(shards)]


def get_shard_parts(rule, path):
    """Input function: the shard manifests (``path`` with ``{shard}``) a sharded set is merged
    from, in shard order; none when the set is one job."""

    def parts(wildcards):
        shards = shard_names(wildcards.dataset, rule)
        if len(shards) == 1:
            return []
        return expand(path, **wildcards, shard=shards)

    return parts


def generation_gpus(rule):
    """``resources: gpu`` of a generation rule: 1 when it generates, 0 when it merges its shards."""

    def gpu(wildcards):
        return int(len(shard_names(wildcards.dataset, rule)) == 1)

    return gpu


def get_shard(wildcards):
    """``(i, n)`` of a shard job, from its ``{shard}`` wildcard ``IofN``."""
    index, shards = wildcards.shard.split("of")
    return [int(index), int(shards)]


DATASETS = list(config["datasets"])
MODELS = list(config["models"])
GENERATED_SETS = ["individual", "random"]
# the manifest of each set `export` can write (config export.sets); a new set is one entry here
EXPORT_MANIFESTS = {name: f"results/{{dataset}}/{{model}}/images/{name}.parquet" for name in GENERATED_SETS}


wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)),
    model="|".join(map(re.escape, MODELS)),
    shard=r"\d+of\d+",
    which="filtered|unfiltered",


def get_model_entry(wildcards):
    """The config entry of one model, as a plain dict (tracked by params)."""
    return dict(config["models"][wildcards.model])


def get_dataset_entry(wildcards):
    """The config entry of one data set, as a plain dict (tracked by params).

    Of a ``prepare`` section only its ``check`` (``manifest_check``) is kept: how a tree was
    prepared (archive paths, chunk size) does not change the index built from it, and a data
    set without one has the same params as before preparation existed (nothing re-runs).
    """
    entry = dict(config["datasets"][wildcards.dataset])
    prepare = entry.pop("prepare", None)
    if prepare:
        entry["manifest_check"] = str(prepare.get("check", "quick"))
    return entry


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
    """The family of ``wildcards.model``."""
    return config["models"][wildcards.model]["family"]


def get_dataset_kind(wildcards):
    """The kind of ``wildcards.dataset`` (``demo``, ``imagefolder``, ...)."""
    return config["datasets"][wildcards.dataset]["kind"]


def report_outputs(category, subcategory="{dataset}", **paths):
    """Named outputs, each a ``report()`` figure or table in ``category`` (a dict for ``**``)."""
    return {
        name: report(path, category=category, subcategory=subcategory)
        for name, path in paths.items()
    }


def get_all_models_targets():
    """Everything ``all_models`` builds."""
    targets = expand(rules.collect_metrics.output.metrics, dataset=DATASETS) + expand(
        rules.assignment_accuracy.output.table, dataset=DATASETS
    )
    if config["filter"]["enabled"]:  # what the filter dropped, counted and shown
        targets += expand("results/{dataset}/paper/filter_{f}", dataset=DATASETS, f=["quality.csv", "grid.png"])
    return targets


def get_section(section):
    """Config section ``section`` without its run settings (device, batch sizes, memory): a params value.

    Run settings change how fast, never what, so they must not make Snakemake re-run a rule;
    scripts read them with ``RunSettings.from_config(snakemake.config)``.
    """
    values = run_settings.strip_run_settings(section, config[section])
    if section == "generator":  # the edit set's keys (edit_images reads them); text sets never re-run for them
        values = {k: v for k, v in values.items() if k not in ("mode", "edit")}
    return values


def get_edit_generator(wildcards):
    """Config ``generator`` for the edit set (for ``edit_images``): the text set's and ``edit``."""
    return {**get_section("generator"), "edit": dict(config["generator"].get("edit") or {})}


def get_debug_set(wildcards):
    """The generated set ``debug_heads`` trains individual debugging on (config ``generator.mode``)."""
    name = "edit" if config["generator"].get("mode", "text") == "edit" else "individual"
    return f"results/{wildcards.dataset}/{wildcards.model}/gen_features/{name}.parquet"


def get_config(*keys):
    """A params function returning ``config[k1][k2]...`` (strings with braces stay literal)."""

    def value(wildcards):
        node = config
        for key in keys:
            node = node[key]
        return node

    return value


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


def get_collective_mem_mb(wildcards, input, attempt):
    """Host memory (MB) of collective_heads: as ``get_head_mem_mb``, but its generated sets
    stream one at a time, so the original features and the largest set count, not all sets."""
    import os

    settings = run_settings.RunSettings.from_config(config)
    sets = [input.own] + [e.path for e in os.scandir(input.cross) if e.name.endswith(".parquet")]
    features_mb = _path_mb(input.features) + max(_path_mb(p) for p in sets)
    return cost.head_job_mem_mb(features_mb, settings.device, settings.host_memory_gb, attempt)


def get_debug_manifest(set_name):
    """The manifest of a model's generated ``set_name`` that its features read: filtered when filter.enabled."""
    if config["filter"]["enabled"]:
        return f"results/{{dataset}}/{{model}}/images/filtered/{set_name}.parquet"
    return f"results/{{dataset}}/{{model}}/images/{set_name}.parquet"


def get_variant_manifest(wildcards):
    """The individual-set manifest of variant features ``wildcards.which`` (filtered or unfiltered)."""
    folder = "images/filtered" if wildcards.which == "filtered" else "images"
    return f"results/{wildcards.dataset}/{wildcards.model}/{folder}/individual.parquet"


def _text_features(filtered):
    """Features of the text-to-image individual set, filtered or not: the run's own when it matches filter.enabled."""
    if filtered == bool(config["filter"]["enabled"]):
        return "results/{dataset}/{model}/gen_features/individual.parquet"
    which = "filtered" if filtered else "unfiltered"
    return f"results/{{dataset}}/{{model}}/gen_features/{which}/individual.parquet"


#: generation_variants.csv: each variant's generated features (a model's individual-debugging set);
#: a new variant is one entry here
ALL_GENERATION_VARIANTS = {
    "text": _text_features(False),
    "text+filter": _text_features(True),
    "edit": "results/{dataset}/{model}/gen_features/edit.parquet",  # rule edit_features
}
#: the variants config paper.generation_variants compares (each costs its own sets and heads)
GENERATION_VARIANTS = {v: ALL_GENERATION_VARIANTS[v] for v in config["paper"]["generation_variants"]}


def get_variant_feature_list(wildcards):
    """The generation variants' features of ``wildcards.model``, in GENERATION_VARIANTS order."""
    return [path.format(dataset=wildcards.dataset, model=wildcards.model) for path in GENERATION_VARIANTS.values()]


def get_export_manifest(wildcards):
    """The manifest of the generated set ``wildcards.set`` of one model."""
    return EXPORT_MANIFESTS[wildcards.set].format(dataset=wildcards.dataset, model=wildcards.model)


def get_export_targets():
    """Everything ``export`` writes: every configured set of every model, per data set."""
    sets = list(config["export"]["sets"])
    unknown = [s for s in sets if s not in EXPORT_MANIFESTS]
    if unknown:
        raise WorkflowError(f"export.sets names {unknown}; valid: {list(EXPORT_MANIFESTS)}")
    return expand("results/{dataset}/export/{model}/{set}", dataset=DATASETS, model=MODELS, set=sets)
