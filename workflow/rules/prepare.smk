"""Preparation: from the archives a user has to the trees the data-set builders read.

``snakemake prepare`` prepares every data set with a ``prepare:`` section (clipmend.data.prepare):
each archive is verified against its published checksum, unpacked one class at a time
(ImageNet's train classes in chunks of ``prepare.chunk_size``, one job each), and the tree
gets ``ROOT/MANIFEST.tsv``, which ``prepare_data`` checks before indexing.
"""


include: "prepare/common.smk"


wildcard_constraints:
    archive="train|val|devkit|archive",
    chunk=r"\d+",


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
