"""Input functions and path helpers of the paper's rules (``workflow/rules/paper/``).

Families, representatives and generated-set names come from ``clipmend.config`` (pure
Python), the same functions the library uses.
"""


def get_model_families():
    """Each model's family, models in config order (a params value)."""
    return clipmend_config.model_families(config["models"])


def get_family_members():
    """Each family's members, families and members in config order."""
    return clipmend_config.family_members(config["models"])


def get_representatives():
    """Each family's type-2 representative: ``paper.representatives``, else its first member."""
    return clipmend_config.representatives(config["models"], config["paper"].get("representatives"))


def get_source_names():
    """Every generated set of the collective matrix: ``model-X`` per model, ``family-F`` per family."""
    return clipmend_config.source_names(config["models"])


def get_source_manifest(dataset, source, filtered=None):
    """The image manifest of a generated set named ``model-X`` or ``family-F``: the filtered one
    (dropped images marked) when ``filtered``, by default when filter.enabled."""
    filtered = bool(config["filter"]["enabled"]) if filtered is None else filtered
    kind, name = clipmend_config.parse_source(source)
    if kind == "model":
        folder = "images/filtered" if filtered else "images"
        return f"results/{dataset}/{name}/{folder}/individual.parquet"
    if filtered:
        return f"results/{dataset}/families/{name}/images/filtered/collective.parquet"
    return expand(rules.generate_collective.output.collective, dataset=dataset, family=name)[0]


def get_generated_manifest(wildcards):
    """The manifest of ``wildcards.source`` as generated, every image (Figure 2)."""
    return get_source_manifest(wildcards.dataset, wildcards.source, filtered=False)


def get_family_assignments(wildcards):
    """The assignments of every member of ``wildcards.family``."""
    return expand(
        rules.assign_backgrounds.output.assignments,
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
    own = expand(rules.generated_features.output.individual, dataset=wildcards.dataset, model=wildcards.model)[0]
    cross = expand(rules.cross_features.output.features, dataset=wildcards.dataset, model=wildcards.model)[0]
    sources = []
    for source in get_source_names():
        kind, name = clipmend_config.parse_source(source)
        path = own if source == f"model-{wildcards.model}" else f"{cross}/{source}.parquet"
        family = families[name] if kind == "model" else name
        sources.append({"name": name, "kind": kind, "family": family, "path": path})
    return sources


def get_lambdas():
    """The λ values of the λ sweep (``paper.lambdas``)."""
    return [float(v) for v in config["paper"]["lambdas"]]


def get_k_values(wildcards=None):
    """The k values of the k sweep: ``paper.k``, else 1 to ``generator.k``; at most ``generator.k``."""
    ks = config["paper"].get("k") or list(range(1, int(config["generator"]["k"]) + 1))
    if max(ks) > int(config["generator"]["k"]):
        raise ValueError(
            f"paper.k goes up to {max(ks)} but the generated sets hold generator.k = "
            f"{config['generator']['k']} backgrounds per class; raise generator.k or lower paper.k"
        )
    return [int(k) for k in ks]


def get_sweep_mark(wildcards):
    """The configured value of a sweep's parameter, marked in its plot."""
    if wildcards.sweep == "lambda":
        return config["head"]["lambda"]
    return config["generator"]["k"]


PAPER_TABLES = ("table1", "table2", "table3", "experiments")


def paper_table_outputs():
    """The .csv (a report table), .md and .tex output of every paper table, named TABLE_EXT."""
    outputs = {}
    for table in PAPER_TABLES:
        stem = f"results/{{dataset}}/paper/{table}"
        outputs |= report_outputs("Tables", **{f"{table}_csv": f"{stem}.csv"})
        outputs |= {f"{table}_md": f"{stem}.md", f"{table}_tex": f"{stem}.tex"}
    return outputs


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
        "redetect.csv",
        "redetect.png",
    ]
    if GENERATION_VARIANTS:  # config paper.generation_variants
        files.append("generation_variants.csv")
    if "text+filter" in GENERATION_VARIANTS or config["filter"]["enabled"]:
        files += ["filter_quality.csv", "filter_grid.png"]
    files += [f"{t}.{ext}" for t in PAPER_TABLES for ext in ("csv", "md", "tex")]
    files += [f"gallery/{m}.png" for m in MODELS]
    files += [f"generated/{s}.png" for s in get_source_names()]
    return [f"results/{d}/paper/{f}" for d in DATASETS for f in files]
