"""Config checks before the DAG: command-line strings coerced by the schema, one-line errors."""

from pathlib import Path

import jsonschema
import pytest
import yaml

from clipmend.config_check import MOVED_KEYS, coerce_cli_strings, moved_key_error, short_error
from clipmend.run_settings import RunSettings, strip_run_settings

SCHEMA = yaml.safe_load((Path(__file__).parents[2] / "workflow/schemas/config.schema.yaml").read_text())


def test_nested_strings_become_the_numbers_and_booleans_the_schema_wants():
    config = {"head": {"lambda": "0.7", "epochs": "30", "seed": "x"}, "paper": {"strict_pool": "false"},
              "llm": {"prompt": "12"}, "models": {"m": {"arch": "resnet18", "family": "5"}}}
    coerce_cli_strings(config, SCHEMA)
    assert config["head"] == {"lambda": 0.7, "epochs": 30, "seed": "x"}  # a bad value stays bad
    assert config["paper"]["strict_pool"] is False
    assert config["llm"]["prompt"] == "12" and config["models"]["m"]["family"] == "5"


def test_short_error_names_key_value_and_rule():
    schema = {"type": "object", "properties": {"head": {"type": "object", "properties": {
        "lambda": {"type": "number", "minimum": 0}}}}}
    with pytest.raises(jsonschema.ValidationError) as err:
        jsonschema.validate({"head": {"lambda": -1}}, schema)
    line = short_error(err.value)
    assert "\n" not in line
    assert "head.lambda" in line and "-1" in line and "minimum" in line


def test_run_settings_are_stripped_from_params_and_read_from_config():
    features = {"batch_size": 7, "other": 1}
    assert strip_run_settings("features", features) == {"other": 1}
    assert features["batch_size"] == 7  # the config itself is untouched
    generator = {"k": 5, "batch_size": 4, "options": {"steps": 50}}
    assert strip_run_settings("generator", generator) == generator  # the images depend on its batch size
    run = RunSettings.from_config({"device": "cpu", "features": features, "generator": generator,
                                   "memory": {"device_gb": 2.5}, "deterministic": True})
    assert (run.device, run.feature_batch_size, run.deterministic) == ("cpu", 7, True)
    assert (run.device_memory_gb, run.host_memory_gb) == (2.5, 16.0)


@pytest.mark.parametrize("old", sorted(MOVED_KEYS))
def test_every_moved_key_is_rejected_in_one_line_naming_its_new_place(old):
    config: dict = {"generator": {"backend": "copypaste", "k": 5}}
    node = config
    *parents, last = old.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = "old value"
    line = moved_key_error(config)
    assert line is not None and "\n" not in line
    assert old in line and MOVED_KEYS[old] in line and "'old value'" in line
    assert moved_key_error({"generator": {"backend": "copypaste", "batch_size": 4, "options": {}}}) is None


def test_the_library_rejects_a_moved_generator_option_before_it_collides_with_an_argument():
    from clipmend.generation.steps import _generator

    with pytest.raises(ValueError, match=r"generator.options.device.*top-level `device`"):
        _generator({"backend": "copypaste", "options": {"device": "cpu", "world": {}}}, RunSettings(), None)
