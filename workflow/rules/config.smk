"""Config loading helpers and validation, run before any rule is defined. No torch here."""

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


def load_pure(name):
    """A torch-free module of clipmend, loaded by path: ``import clipmend`` would import torch."""
    import importlib.util
    import sys

    path = f"{workflow.basedir}/src/clipmend/{name}.py"
    spec = importlib.util.spec_from_file_location(f"_clipmend_pure_{name}", path)
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded  # dataclasses look their module up there
    spec.loader.exec_module(loaded)
    return loaded


def _validate_config(schema_path):
    import yaml
    from jsonschema.exceptions import ValidationError

    check = load_pure("config_check")
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
