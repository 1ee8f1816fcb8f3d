"""``snakemake prepare`` for real: ImageNet (chunked), CIFAR-10 and Waterbirds from archives, and a kill -9 mid-unpack.

The archives are tests/archives.py's, in the official formats; their checksums are pinned
in the config (``prepare.checksums``) as a user would pin an archive of their own.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clipmend.data.prepare.manifest import check_tree
from tests import archives
from tests.workflow_utils import REPO, SNAKEMAKE, snakemake, tiny_config, write_config

pytestmark = pytest.mark.workflow

WNIDS = ["n01440764", "n01443537", "n01484850", "n01491361", "n01494475"]  # ImageNet-1k's first five


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def imagenet_entry(arch: dict, chunk_size: int) -> dict:
    """A data set entry preparing ``arch``'s ImageNet archives into data/imagenet."""
    keys = ("train", "val", "devkit")
    options = {"root": "data/imagenet", "train_per_class": None, "debug_size": 5, "test_size": 5,
               "on_bad_image": "error"}
    return {"kind": "imagenet", "options": options,
            "prepare": {"archives": {k: str(arch[k]) for k in keys},
                        "checksums": {k: md5(arch[k]) for k in keys}, "chunk_size": chunk_size}}


def test_prepare_target_builds_every_tree(tmp_path):
    arch = archives.imagenet(tmp_path / "archives", WNIDS, train_per_class=2, val_per_class=2)
    cifar = archives.cifar(tmp_path / "archives" / "cifar-10-python.tar.gz", "cifar10")
    birds = archives.waterbirds(tmp_path / "archives" / "waterbirds.tar.gz")
    config = tiny_config()
    config["datasets"] = {
        "imagenet": imagenet_entry(arch, chunk_size=2),
        "cifar10": {"kind": "cifar10", "options": {"root": "data/cifar10"},
                    "prepare": {"archives": {"archive": str(cifar)}, "checksums": {"archive": md5(cifar)}}},
        "waterbirds": {"kind": "waterbirds", "options": {"root": "data/waterbirds_v1.0"},
                       "prepare": {"archives": {"archive": str(birds)}, "checksums": {"archive": md5(birds)}}},
    }
    work = tmp_path / "run"
    work.mkdir()
    write_config(work, config)
    plan = snakemake(work, "-n", "results/imagenet/data/index.parquet")  # all_models' first step
    assert plan.returncode == 0 and "prepare_imagenet_index" in plan.stdout, plan.stderr[-2000:]
    run = snakemake(work, "--cores", "2", "prepare")
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(p.name for p in (work / "results/prepare/imagenet/train").iterdir()) == \
        ["chunk_0.tsv", "chunk_1.tsv", "chunk_2.tsv"]  # 5 classes in chunks of 2
    root = work / "data/imagenet"
    assert sorted(os.listdir(root / "train")) == sorted(os.listdir(root / "val")) == WNIDS
    for name, wnid in arch["labels"].items():
        assert (root / "val" / wnid / name).read_bytes() == arch["val_images"][name]
    assert check_tree(root, "full") == 20
    assert check_tree(work / "data/cifar10", "full") == 8
    assert check_tree(work / "data/waterbirds_v1.0", "full") == 17
    again = snakemake(work, "-n", "prepare")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr

    # prepare_data indexes the prepared tree; after an image is cut short it stops, naming it
    index = snakemake(work, "--cores", "1", "results/imagenet/data/index.parquet")
    assert index.returncode == 0, index.stderr[-3000:]
    frame = pd.read_parquet(work / "results/imagenet/data/index.parquet")
    assert frame["split"].value_counts().to_dict() == {"train": 10, "val": 5, "test": 5}
    val = frame[frame["split"] != "train"]
    assert {Path(p).name: WNIDS[label] for p, label in zip(val["image"], val["label"])} == arch["labels"]
    image = root / "train" / WNIDS[0] / f"{WNIDS[0]}_1.JPEG"
    image.write_bytes(image.read_bytes()[:50])
    stopped = snakemake(work, "--cores", "1", "--force", "results/imagenet/data/index.parquet")  # this job only
    assert stopped.returncode != 0
    assert f"train/{WNIDS[0]}/{WNIDS[0]}_1.JPEG (size 50" in (work / "logs/imagenet/prepare_data.log").read_text()

    # an archive that is not the pinned one stops its verify job with both checksums named
    config["datasets"]["cifar10"]["prepare"]["checksums"]["archive"] = "0" * 32
    write_config(work, config)
    bad = snakemake(work, "--cores", "1", "prepare")
    log = (work / "logs/cifar10/prepare_verify_archive.log").read_text()
    assert bad.returncode != 0
    assert f"md5 is {md5(cifar)}, expected {'0' * 32}" in log


def staged_files(root: Path) -> list[Path]:
    """Files in the staging area (a class being unpacked)."""
    return [p for p in (root / ".partial" / "train").glob("*/*") if p.is_file()]


def test_kill_9_mid_unpack_then_resume(tmp_path):
    # 60 classes of 30 images (random bytes of JPEG size: unpacking never decodes), one job
    rng = np.random.default_rng(0)
    wnids = [f"n0{2000000 + i:07d}" for i in range(60)]
    images = {w: {f"{w}_{k}.JPEG": rng.bytes(60_000) for k in range(30)} for w in wnids}
    folder = tmp_path / "archives"
    folder.mkdir()
    train = archives.imagenet_train(folder / "ILSVRC2012_img_train.tar", images)
    small = archives.imagenet(folder / "val", wnids, train_per_class=0, val_per_class=1)
    arch = {"train": train, "val": small["val"], "devkit": small["devkit"]}
    config = tiny_config()
    config["datasets"] = {"imagenet": imagenet_entry(arch, chunk_size=100)}
    work = tmp_path / "run"
    work.mkdir()
    write_config(work, config)
    root = work / "data/imagenet"
    cmd = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(work), "--configfile",
           str(work / "config.yaml"), "--cores", "1", "prepare"]
    with open(work / "run-0.log", "wb") as out:
        run = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                               env={**os.environ, "HF_HUB_OFFLINE": "1"})
    done_at_kill = []
    deadline = time.monotonic() + 300
    while run.poll() is None and time.monotonic() < deadline:
        done = os.listdir(root / "train") if (root / "train").is_dir() else []
        staged = staged_files(root)
        if len(done) >= 3 and staged:
            os.killpg(run.pid, signal.SIGKILL)  # Snakemake and its job, at once
            done_at_kill = sorted(done)
            print(f"killed with {len(done)} of {len(wnids)} classes in place, {len(staged)} files of "
                  f"{staged[0].parent.name} staged")
            break
        time.sleep(0.005)
    run.wait(timeout=60)
    assert done_at_kill, f"the run ended (rc {run.returncode}) before it could be killed mid-unpack"
    # evidence it was inside its work: some classes in place, one staged, the chunk's output not written
    assert 3 <= len(done_at_kill) < len(wnids)
    assert not (work / "results/prepare/imagenet/train/chunk_0.tsv").exists()
    assert not (work / "results/prepare/imagenet/prepared.json").exists()
    # the tree holds whole classes only
    for wnid in os.listdir(root / "train"):
        assert {p.name: p.read_bytes() for p in (root / "train" / wnid).iterdir()} == images[wnid]
    before = {w: (root / "train" / w / f"{w}_0.JPEG").stat() for w in done_at_kill}

    unlock = snakemake(work, "--unlock")
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    resumed = snakemake(work, "--cores", "1", "prepare")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert sorted(os.listdir(root / "train")) == wnids
    for w, stat in before.items():  # classes finished before the kill were kept, not unpacked again
        after = (root / "train" / w / f"{w}_0.JPEG").stat()
        assert (after.st_ino, after.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    assert check_tree(root, "full") == 60 * 30 + 60
    assert not (root / ".partial").exists()
