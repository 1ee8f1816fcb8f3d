"""clipmend: find and fix spurious-correlation failures of image classifiers.

Targets: ``prepare`` (the data sets' trees from their archives, for data sets with a
``prepare:`` section; ``all_models`` prepares them too), ``all_models`` (every configured model and data set, the default), ``spurious``
(the second paper: detection, CLIP fine-tuning, both papers on the same groups) and
``paper`` (the first paper's analyses, plus ``spurious``) and ``export`` (each model's
generated sets as data sets: ImageFolder trees with metadata.csv and SHA256SUMS).
"""

from snakemake.utils import min_version

min_version("9.0")


# The demo config unless the user gives config files: a --configfile replaces it (merged,
# the two `models:` maps would mix), while --config KEY=VALUE overrides keys of it.
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/config/config.yaml"


include: "workflow/rules/config.smk"
include: "workflow/rules/common.smk"
include: "workflow/rules/prepare.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/backgrounds.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/heads.smk"
include: "workflow/rules/paper.smk"
include: "workflow/rules/spurious.smk"
include: "workflow/rules/variants.smk"
include: "workflow/rules/export.smk"


rule all_models:
    input:
        get_all_models_targets(),
    default_target: True


rule spurious:
    input:
        get_spurious_targets(),


rule paper:
    input:
        get_all_models_targets() + get_paper_targets() + get_spurious_targets(),


rule export:
    input:
        get_export_targets(),
