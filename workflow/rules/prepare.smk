"""Preparation: from the archives a user has to the trees the data-set builders read.

``snakemake prepare`` prepares every data set with a ``prepare:`` section (clipmend.data.prepare):
each archive is verified against its published checksum, unpacked one class at a time
(ImageNet's train classes in chunks of ``prepare.chunk_size``, one job each), and the tree
gets ``ROOT/MANIFEST.tsv``, which ``prepare_data`` checks before indexing.
"""

import os

from clipmend.data.prepare import check_prepare_config, needed_archives

PREPARED = [name for name, entry in config["datasets"].items() if entry.get("prepare")]
for _name in PREPARED:
    try:
        check_prepare_config(_name, config["datasets"][_name]["kind"], config["datasets"][_name]["prepare"])
    except ValueError as err:
        raise WorkflowError(str(err)) from None


wildcard_constraints:
    archive="train|val|devkit|archive",
    chunk=r"\d+",


def get_prepare(wildcards):
    """The prepare section of ``wildcards.dataset``: what the verify step uses (a params value)."""
    prepare = config["datasets"][wildcards.dataset]["prepare"]
    return {k: prepare.get(k) for k in ("verify", "checksums", "urls")}


def get_prepare_root(wildcards):
    """The tree a data set is prepared into: its builder's ``options.root``."""
    return str(config["datasets"][wildcards.dataset]["options"]["root"])


def get_archive_path(wildcards, key=None):
    """The configured path of archive ``key`` (default ``wildcards.archive``)."""
    archives = config["datasets"][wildcards.dataset]["prepare"]["archives"]
    return str(archives[key or wildcards.archive])


def get_archive_input(wildcards):
    """The archive as an input, unless it is missing and has a URL (the verify step fetches it)."""
    prepare = config["datasets"][wildcards.dataset]["prepare"]
    if (prepare.get("urls") or {}).get(wildcards.archive) and not os.path.exists(get_archive_path(wildcards)):
        return []
    return get_archive_path(wildcards)


def get_archive(key):
    """Params function: the configured path of archive ``key``."""
    return lambda wildcards: get_archive_path(wildcards, key)


def get_prepare_setting(key, default):
    """Params function: ``prepare.<key>`` of ``wildcards.dataset`` (``default`` when unset)."""
    return lambda wildcards: config["datasets"][wildcards.dataset]["prepare"].get(key, default)


def get_stamp(key):
    """Input function: the verification stamp of archive ``key``."""
    return lambda wildcards: f"results/prepare/{wildcards.dataset}/{key}.verified.json"


def get_val_source(wildcards):
    """Where ImageNet's val images come from: the archives, or a flat folder + LOC_val_solution.csv."""
    prepare = config["datasets"][wildcards.dataset]["prepare"]
    if prepare.get("val_dir"):
        return {"val_dir": str(prepare["val_dir"]), "val_solution": str(prepare["val_solution"])}
    return {"archive": get_archive_path(wildcards, "val"), "devkit": get_archive_path(wildcards, "devkit")}


def get_val_inputs(wildcards):
    """The val step's inputs: the stamps of the val archive and devkit, or the solution file."""
    prepare = config["datasets"][wildcards.dataset]["prepare"]
    if prepare.get("val_dir"):
        return [str(prepare["val_solution"])]
    return [get_stamp("val")(wildcards), get_stamp("devkit")(wildcards)]


def get_prepare_parts(wildcards):
    """The manifest parts of every prepare job of a data set (ImageNet's train chunks after indexing)."""
    entry = config["datasets"][wildcards.dataset]
    prefix = f"results/prepare/{wildcards.dataset}"
    if entry["kind"] != "imagenet":
        return [f"{prefix}/archive.tsv"]
    parts = [f"{prefix}/val.tsv"]
    if "train" in needed_archives("imagenet", entry["prepare"]):
        from clipmend.data.prepare.imagenet import n_chunks, read_members

        members = checkpoints.prepare_imagenet_index.get(dataset=wildcards.dataset).output.members
        chunks = n_chunks(len(read_members(members)), int(entry["prepare"].get("chunk_size", 100)))
        parts += [f"{prefix}/train/chunk_{i}.tsv" for i in range(chunks)]
    return parts


def get_prepared(wildcards):
    """``prepare_data``'s input: the prepared tree's summary, for data sets with a prepare section."""
    if config["datasets"][wildcards.dataset].get("prepare"):
        return f"results/prepare/{wildcards.dataset}/prepared.json"
    return []


def get_manifest_check(wildcards):
    """How ``prepare_data`` checks a prepared tree against its manifest (none without a prepare section)."""
    prepare = config["datasets"][wildcards.dataset].get("prepare")
    return str(prepare.get("check", "quick")) if prepare else "none"


def get_prepare_targets(wildcards):
    """Every prepared data set's summary; none configured is an error, not a silent no-op."""
    if not PREPARED:
        raise WorkflowError(
            "prepare: no data set has a prepare: section; set datasets.<name>.prepare.archives "
            "(config/README.md, 'Preparing a data set from its archives')"
        )
    return expand("results/prepare/{dataset}/prepared.json", dataset=PREPARED)


rule prepare:
    input:
        get_prepare_targets,


rule prepare_verify:
    input:
        archive=get_archive_input,
    output:
        stamp="results/prepare/{dataset}/{archive}.verified.json",
    params:
        path=get_archive_path,
        kind=get_dataset_kind,
        prepare=get_prepare,
    log:
        "logs/{dataset}/prepare_verify_{archive}.log",
    benchmark:
        "benchmarks/runs/{dataset}/prepare_verify_{archive}.tsv"
    resources:
        mem_mb=1000,
        runtime=lambda wc, attempt: 60 * attempt,
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/prepare_verify.py"


checkpoint prepare_imagenet_index:
    input:
        stamp=get_stamp("train"),
    output:
        members="results/prepare/{dataset}/train_classes.tsv",
    params:
        archive=get_archive("train"),
    log:
        "logs/{dataset}/prepare_imagenet_index.log",
    resources:
        mem_mb=1000,
        runtime=lambda wc, attempt: 10 * attempt,
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/prepare_imagenet_index.py"


rule prepare_imagenet_train:
    input:
        stamp=get_stamp("train"),
        members=rules.prepare_imagenet_index.output.members,
    output:
        part="results/prepare/{dataset}/train/chunk_{chunk}.tsv",
    params:
        archive=get_archive("train"),
        root=get_prepare_root,
        chunk_size=get_prepare_setting("chunk_size", 100),
    log:
        "logs/{dataset}/prepare_imagenet_train_{chunk}.log",
    benchmark:
        "benchmarks/runs/{dataset}/prepare_imagenet_train_{chunk}.tsv"
    resources:
        mem_mb=2000,
        runtime=lambda wc, attempt: 120 * attempt,
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/prepare_imagenet_train.py"


rule prepare_imagenet_val:
    input:
        get_val_inputs,
    output:
        part="results/prepare/{dataset}/val.tsv",
    params:
        source=get_val_source,
        root=get_prepare_root,
    log:
        "logs/{dataset}/prepare_imagenet_val.log",
    benchmark:
        "benchmarks/runs/{dataset}/prepare_imagenet_val.tsv"
    resources:
        mem_mb=2000,
        runtime=lambda wc, attempt: 120 * attempt,
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/prepare_imagenet_val.py"


rule prepare_unpack:
    input:
        stamp=get_stamp("archive"),
    output:
        part="results/prepare/{dataset}/archive.tsv",
    params:
        archive=get_archive("archive"),
        kind=get_dataset_kind,
        root=get_prepare_root,
    log:
        "logs/{dataset}/prepare_unpack.log",
    benchmark:
        "benchmarks/runs/{dataset}/prepare_unpack.tsv"
    resources:
        mem_mb=2000,
        runtime=lambda wc, attempt: 60 * attempt,
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/prepare_unpack.py"


rule prepare_manifest:
    input:
        get_prepare_parts,
    output:
        summary="results/prepare/{dataset}/prepared.json",
    params:
        root=get_prepare_root,
    log:
        "logs/{dataset}/prepare_manifest.log",
    resources:
        mem_mb=2000,
        runtime=lambda wc, attempt: 30 * attempt,
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/prepare_manifest.py"
