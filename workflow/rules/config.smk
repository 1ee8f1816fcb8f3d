"""Config validation, before any rules exist. No torch here (``import clipmend`` is cheap)."""

import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# this checkout's library, also where clipmend is not installed (rules import only its pure modules)
if f"{workflow.basedir}/src" not in sys.path:
    sys.path.insert(0, f"{workflow.basedir}/src")


def _validate_config(schema_path):
    import yaml
    from jsonschema.exceptions import ValidationError

    from clipmend import config_check as check
    from clipmend.config import resolve_models

    moved = check.moved_key_error(config)  # an earlier layout's key: its new place, before anything runs
    if moved:
        raise WorkflowError(moved)
    resolve_models(config)  # models: paper -> Table 5's 40 entries
    schema_path = f"{workflow.basedir}/{schema_path}"  # the repo root, from any included file
    with open(schema_path) as f:
        check.coerce_cli_strings(config, yaml.safe_load(f))
    try:
        validate(config, schema_path)
    except WorkflowError as err:
        if not isinstance(err.__context__, ValidationError):  # validate() re-raises jsonschema's
            raise
        raise WorkflowError(check.short_error(err.__context__)) from None


_validate_config("workflow/schemas/config.schema.yaml")
