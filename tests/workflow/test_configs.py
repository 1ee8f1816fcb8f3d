"""Every shipped config: a dry run builds its whole DAG with no data and no weights."""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest
import yaml

from clipmend.config import resolve_models
from clipmend.models.zoo import PAPER_MODELS
from tests.workflow_utils import REPO, SNAKEMAKE

CONFIGS = sorted(p.name for p in (REPO / "config").glob("*.yaml"))
PAPER_CONFIGS = ["cifar10.yaml", "cifar100.yaml", "imagenet.yaml"]


def load(name: str) -> dict:
    """A shipped config as YAML data."""
    return yaml.safe_load((REPO / "config" / name).read_text())


def dry_run(name: str, workdir, target: str = "all_models") -> subprocess.CompletedProcess:
    """``snakemake -n`` of ``target`` with a shipped config, in an empty folder, offline."""
    cmd = [
        str(SNAKEMAKE),
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(REPO / "config" / name),
        "-n",
        target,
        "--quiet",
        "rules",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, check=False)


def job_counts(output: str) -> dict[str, int]:
    """Rule -> job count from snakemake's job-stats table."""
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", output, re.MULTILINE)}


def test_the_paper_configs_are_shipped():
    assert set(PAPER_CONFIGS) <= set(CONFIGS) and "config.yaml" in CONFIGS


@pytest.mark.parametrize("name", CONFIGS)
def test_dry_run_builds_the_whole_dag_in_seconds(name, tmp_path):
    start = time.perf_counter()
    result = dry_run(name, tmp_path)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    config = resolve_models(load(name))
    assert counts["extract_features"] == len(config["models"]) * len(config["datasets"])
    assert counts["debug_heads"] == counts["extract_features"] and counts["all_models"] == 1
    assert elapsed < 60, f"dry run took {elapsed:.0f} s"
    assert not (tmp_path / "results").exists()  # nothing ran, nothing was touched


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_paper_configs_list_table5_and_table4(name):
    assert load(name)["models"] == "paper"  # the zoo's 40 models, defined once
    config = resolve_models(load(name))
    assert config["models"] == PAPER_MODELS and len(PAPER_MODELS) == 40
    assert config["head"] == {
        "lr": 0.2,
        "momentum": 0.9,
        "weight_decay": 0.0005,
        "epochs": 1000,
        "lambda": 0.5,
        "seed": 0,
    }
    assert config["generator"]["k"] == 5
    assert config["failures"]["baseline"] == {
        k: v for k, v in config["head"].items() if k != "lambda"
    }
    assert config["clip"] == {
        "arch": "ViT-B-32",
        "weights": "openai",
        "prompt": "a photo of a {class_name} {background}",
    }
    assert (
        config["llm"]["backend"] == "openai"
        and config["llm"]["options"]["model"] == "gpt-3.5-turbo"
    )
    assert (
        config["llm"]["prompt"]
        == "What are the uncommon backgrounds that a {class_name} can appear in?"
    )
    assert config["generator"]["backend"] == "diffusers"
    assert config["generator"]["options"]["model"] == "stable-diffusion-v1-5/stable-diffusion-v1-5"


def test_imagenet_config_samples_as_section_5_1():
    options = load("imagenet.yaml")["datasets"]["imagenet"]["options"]
    assert (options["train_per_class"], options["debug_size"], options["test_size"]) == (
        30,
        30000,
        20000,
    )


def test_readme_documents_every_config_and_key():
    readme = (REPO / "config" / "README.md").read_text()
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    for name in CONFIGS:
        assert name in readme, name
    for key, sub in schema["properties"].items():
        assert f"`{key}" in readme, key
        for child in sub.get("properties", {}):
            assert f"`{child}`" in readme or f"`{key}.{child}`" in readme, f"{key}.{child}"
    for model_key in schema["properties"]["models"]["additionalProperties"]["properties"]:
        assert f"`{model_key}`" in readme, model_key
