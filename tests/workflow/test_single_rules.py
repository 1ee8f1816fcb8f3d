"""Single rules of the workflow, run by Snakemake on a tiny config in a temporary folder."""

import json

import pandas as pd
import pytest
import torch

import clipmend._torchvision_fix  # noqa: F401  (before timm imports torchvision)
from tests.unit import test_datasets_real
from tests.workflow_utils import snakemake, tiny_config, write_config

pytestmark = pytest.mark.workflow

cifar10_root = test_datasets_real.cifar10_root  # a fixture: CIFAR-10 batches in the official format


def test_prepare_data_rule_builds_a_cifar_index(cifar10_root, tmp_path):
    config = tiny_config()
    config["datasets"] = {
        "cifar10": {"kind": "cifar10", "options": {"root": str(cifar10_root), "debug_size": 30}}
    }
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "--cores", "1", "results/cifar10/data/index.parquet")
    assert result.returncode == 0, result.stderr[-3000:]
    index = pd.read_parquet(tmp_path / "results/cifar10/data/index.parquet")
    classes = json.loads((tmp_path / "results/cifar10/data/classes.json").read_text())
    assert len(index) == 150 and classes[0] == "airplane"


def test_workflow_collects_failures_of_a_checkpoint_model_without_classifier(tmp_path):
    import timm

    torch.manual_seed(0)
    state = timm.create_model("resnet10t", num_classes=0).state_dict()
    checkpoint = tmp_path / "swav_resnet10t.pth.tar"
    torch.save({f"module.{k}": v for k, v in state.items()}, checkpoint)
    config = tiny_config(models=("resnet10t",))
    demo_cfg = config["models"]["resnet10t"]["pretrained_cfg"]
    config["models"]["ssl"] = {
        "arch": "resnet10t",
        "family": "swav",
        "source": "checkpoint",
        "layout": "swav",
        "weights": str(checkpoint),
        "pretrained_cfg": demo_cfg,
    }
    config["failures"]["baseline"] = {"epochs": 30}
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "--cores", "2", "results/demo/ssl/failures.parquet")
    assert result.returncode == 0, result.stderr[-4000:]
    head = torch.load(tmp_path / "results/demo/ssl/failure_head.pt")
    classes = len(config["datasets"]["demo"]["options"]["classes"])
    assert head["source"] == "train" and head["weight"].shape == (classes, 512)
    assert torch.load(tmp_path / "results/demo/ssl/own_head.pt") is None
    failures = pd.read_parquet(tmp_path / "results/demo/ssl/failures.parquet")
    assert len(failures) and set(failures["part"]) == {"debug_seed", "debug_heldout"}
    assert (
        "failures of the train head"
        in (tmp_path / "logs/demo/ssl/collect_failures.log").read_text()
    )
