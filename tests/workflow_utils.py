"""Running the real workflow on a tiny config in a temporary directory."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def tiny_config(models: tuple[str, ...] = ("resnet10t", "mobilenetv3_050")) -> dict:
    """The default demo config, shrunk to run in about a minute."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config = copy.deepcopy({k: v for k, v in config.items() if not k.startswith("_")})
    world = config["datasets"]["demo"]["options"]
    world.update(n_train_per_class=60, n_val_per_class=40, n_test_per_class=10, n_clip_per_class=60)
    config["generator"]["options"]["world"] = world
    config["models"] = {m: config["models"][m] for m in models}
    config["train"]["epochs"] = 1
    config["clip"]["train"]["epochs"] = 1
    config["generator"].update(k=2, images_per_background=3)
    config["head"]["epochs"] = 20
    # fine-tuning as the paper (the best validation epoch) over spurious.seeds: the demo's 20 seeds
    # averaging its last 10 epochs are for its intervals, not for a run of a few epochs
    config["spurious"]["finetune_seeds"] = None
    config["spurious"]["finetune"]["average_last"] = 0
    return config


def write_config(workdir: Path, config: dict) -> Path:
    """Write ``config`` as the run's config file."""
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(
    workdir: Path, *args: str, timeout: int = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the repo's Snakefile in ``workdir`` with ``workdir/config.yaml``, plus ``env``."""
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "config.yaml"), *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
