"""Input functions and settings of the prepare rules (workflow/rules/prepare.smk). Nothing here reads archives."""

import os

from clipmend.data.prepare import check_prepare_config, needed_archives

PREPARED = [name for name, entry in config["datasets"].items() if entry.get("prepare")]
for _name in PREPARED:
    try:
        check_prepare_config(_name, config["datasets"][_name]["kind"], config["datasets"][_name]["prepare"])
    except ValueError as err:
        raise WorkflowError(str(err)) from None


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


def get_prepare_targets(wildcards):
    """Every prepared data set's summary; none configured is an error, not a silent no-op."""
    if not PREPARED:
        raise WorkflowError(
            "prepare: no data set has a prepare: section; set datasets.<name>.prepare.archives "
            "(config/README.md, 'Preparing a data set from its archives')"
        )
    return expand("results/prepare/{dataset}/prepared.json", dataset=PREPARED)
