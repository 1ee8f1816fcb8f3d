"""Target ``export``: each model's generated sets as data sets under results/{dataset}/export/{model}/{set}/."""


rule export_set:
    input:
        manifest=get_export_manifest,
        classes=rules.prepare_data.output.classes,
    output:
        tree=directory("results/{dataset}/export/{model}/{set}"),
    params:
        link=config["export"]["link"],
    wildcard_constraints:
        set="|".join(map(re.escape, EXPORT_MANIFESTS)),
    log:
        "logs/{dataset}/export/{model}/{set}.log",
    resources:
        mem_mb=2000,
        runtime=lambda wc, attempt: 60 * attempt,
    localrule: True
    conda:
        "../../envs/clipmend.yaml"
    script:
        "../scripts/export_set.py"
