"""clipmend: find and fix spurious-correlation failures of image classifiers.

Targets: ``all_models`` (every configured model and data set, the default).
"""

from snakemake.utils import min_version, validate

min_version("9.0")


# the demo config, unless the user gives one (--configfile would otherwise merge into it)
if not config:

    configfile: "config/config.yaml"



validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/backgrounds.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/heads.smk"
include: "workflow/rules/paper.smk"


rule all_models:
    input:
        get_all_models_targets(),
    default_target: True


rule paper:
    input:
        get_all_models_targets() + get_paper_targets(),
