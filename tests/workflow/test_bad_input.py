"""Bad input gets a clear error naming the bad value."""

import logging
import time

import pytest

from clipmend.generation.requests import debug_requests
from clipmend.models.backbones import ModelSpec, create_backbone, create_model
from tests.workflow_utils import snakemake, tiny_config, write_config


def _dry_run_error(tmp_path, config):
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "-n", "all_models", timeout=120)
    assert result.returncode != 0
    return result.stdout + result.stderr


def test_malformed_config_names_key_and_value(tmp_path):
    config = tiny_config()
    config["head"]["lambda"] = -1
    out = _dry_run_error(tmp_path, config)
    assert "lambda" in out and "-1" in out


def test_unknown_backend_names_it_and_the_valid_ones(tmp_path):
    config = tiny_config()
    config["llm"]["backend"] = "gpt-99"
    out = _dry_run_error(tmp_path, config)
    assert "gpt-99" in out and "table" in out


def test_prompt_without_placeholder_is_rejected(tmp_path):
    config = tiny_config()
    config["clip"]["prompt"] = "a photo"
    out = _dry_run_error(tmp_path, config)
    assert "a photo" in out and "background" in out


def test_a_config_of_the_single_seed_layout_names_the_seeds_key(tmp_path):
    config = tiny_config()
    config["spurious"]["finetune"]["seed"] = 0
    out = _dry_run_error(tmp_path, config)
    assert "spurious.finetune.seed" in out and "spurious.seeds" in out


def test_an_unknown_spurious_source_is_named_with_the_valid_ones(tmp_path):
    config = tiny_config()
    config["spurious"]["finetune"]["spurious_source"] = "owlvit"
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "-n", "spurious", timeout=120)
    out = result.stdout + result.stderr
    assert result.returncode != 0 and "'owlvit'" in out and "oracle" in out


def test_missing_configured_checkpoint_is_named_before_running(tmp_path):
    config = tiny_config()
    config["models"]["resnet10t"]["weights"] = str(tmp_path / "nowhere.pth")
    out = _dry_run_error(tmp_path, config)
    assert "nowhere.pth" in out


@pytest.mark.parametrize("args", [("-n", "all_models"), ("--cores", "2", "all_models")])
def test_a_config_of_the_earlier_layout_fails_at_validation_naming_the_new_place(tmp_path, args):
    """Settings under generator.options (as earlier READMEs had them): a dry run and a real run
    both stop before any job, naming the moved key and where it goes now."""
    config = tiny_config()
    config["generator"]["options"].update(device="cpu", batch_size=4)
    write_config(tmp_path, config)
    start = time.monotonic()
    result = snakemake(tmp_path, *args, timeout=120)
    elapsed = time.monotonic() - start
    assert result.returncode != 0
    out = result.stdout + result.stderr
    lines = [line for line in out.splitlines() if "generator.options.device" in line]
    assert len(lines) == 1 and "the top-level `device`" in lines[0], out[-2000:]
    assert "TypeError" not in out and not (tmp_path / "results").exists()
    assert elapsed < 60, elapsed


def test_unknown_model_arch_is_named():
    with pytest.raises(ValueError, match="resnet999"):
        create_model(ModelSpec(name="m", arch="resnet999", family="f"), num_classes=10, pretrained=False)


def test_missing_checkpoint_file_is_named(tmp_path):
    spec = ModelSpec(name="mine", arch="resnet10t", family="resnet")
    with pytest.raises(FileNotFoundError, match="mine.*nowhere.pth"):
        create_backbone(spec, 10, tmp_path / "nowhere.pth")


def test_class_without_failures_gets_no_images_and_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        reqs = debug_requests({0: ["in water"]}, ["cat", "dog"], "{class_name} {background}", 2, 0)
    assert {r.class_name for r in reqs} == {"cat"}
    assert "dog" in caplog.text
