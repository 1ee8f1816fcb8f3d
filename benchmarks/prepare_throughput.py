"""Seconds per 1,000 images of ``snakemake prepare``'s ImageNet steps, and the projection to ImageNet-1k.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/prepare_throughput.py [--train 1000] [--val 1000]

Builds archives in the official formats (tests/archives.py) of random-noise JPEGs at
500x375, quality 90, blurred to ~110 KB each (ImageNet's mean is ~110 KB: 138 GB over
1.28 M train images): ``--train`` images in classes of 250, ``--val`` images in 10 classes
with a devkit. Then times, in one process on this machine: the MD5 of the archives
(prepare_verify), indexing and unpacking the train archive (prepare_imagenet_index,
prepare_imagenet_train: staged, hashed, renamed per class), the val archive with the
devkit's labels (prepare_imagenet_val), the manifest (prepare_manifest) and its quick
and full checks. Reference, in the same run: GNU tar unpacking the same train archive and
its class tars by hand (``tar xf``, then ``tar xf`` of each class tar). The projection
multiplies the measured seconds per image by ImageNet-1k's 1,281,167 train and 50,000
val images (one job at a time; chunk jobs on more cores divide the unpacking time).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from clipmend.data.prepare.checksums import file_digest  # noqa: E402
from clipmend.data.prepare.imagenet import index_train, unpack_train, unpack_val  # noqa: E402
from clipmend.data.prepare.manifest import check_tree, write_entries  # noqa: E402
from clipmend.data.prepare.steps import finish  # noqa: E402
from tests import archives  # noqa: E402

IMAGENET_TRAIN, IMAGENET_VAL = 1_281_167, 50_000
PER_CLASS = 250
DISTINCT = 64  # distinct JPEGs, reused: unpacking and hashing cost the same for repeated content


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=1000, help="train images (classes of 250)")
    parser.add_argument("--val", type=int, default=1000, help="val images (10 classes)")
    parser.add_argument("--dir", default=None, help="work folder (default: a temporary one)")
    return parser.parse_args(argv)


def build(folder: Path, n_train: int, n_val: int) -> dict:
    """The archives: train tar of class tars, val tar, devkit; returns paths and the mean image size."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    pool = [archives.jpeg(rng, (500, 375), 90, blur=0.8) for _ in range(DISTINCT)]
    wnids = [f"n0{1440764 + i:07d}" for i in range(max(10, -(-n_train // PER_CLASS)))]
    train, k = {}, 0
    for c in range(-(-n_train // PER_CLASS)):
        n = min(PER_CLASS, n_train - c * PER_CLASS)
        train[wnids[c]] = {f"{wnids[c]}_{i}.JPEG": pool[(k + i) % DISTINCT] for i in range(n)}
        k += n
    val_wnids = [wnids[i % 10] for i in range(n_val)]
    val = {archives.val_name(n): pool[n % DISTINCT] for n in range(1, n_val + 1)}
    return {"train": archives.imagenet_train(folder / "ILSVRC2012_img_train.tar", train),
            "val": archives.write_tar(folder / "ILSVRC2012_img_val.tar", val),
            "devkit": archives.devkit(folder / "ILSVRC2012_devkit_t12.tar.gz", wnids[:10], val_wnids),
            "mean_kb": float(np.mean([len(p) for p in pool])) / 1e3}


def timed(fn, *args):
    """(seconds, result) of ``fn(*args)``."""
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def tar_by_hand(archive: Path, out: Path) -> None:
    """The reference: ``tar xf`` the train archive, then each class tar into its folder."""
    out.mkdir()
    subprocess.run(["tar", "xf", str(archive), "-C", str(out)], check=True)
    for inner in sorted(out.glob("*.tar")):
        (out / inner.stem).mkdir()
        subprocess.run(["tar", "xf", str(inner), "-C", str(out / inner.stem)], check=True)
        inner.unlink()


def main(argv: list[str] | None = None) -> None:
    """Build, time, print the table and the projection."""
    args = parse_args(argv)
    work = Path(args.dir or tempfile.mkdtemp(prefix="prepare_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        arch = build(work / "archives", args.train, args.val)
        root = work / "imagenet"
        size = sum(arch[k].stat().st_size for k in ("train", "val"))
        t_md5, _ = timed(lambda: [file_digest(arch[k], "md5") for k in ("train", "val", "devkit")])
        t_index, members = timed(index_train, arch["train"])
        t_train, train = timed(unpack_train, arch["train"], members, root)
        t_val, val = timed(unpack_val, arch["val"], arch["devkit"], root)
        write_entries(work / "train.tsv", train)
        write_entries(work / "val.tsv", val)
        t_manifest, entries = timed(finish, [work / "train.tsv", work / "val.tsv"], root, work / "summary.json")
        t_quick, _ = timed(check_tree, root, "quick")
        t_full, _ = timed(check_tree, root, "full")
        t_tar, _ = timed(tar_by_hand, arch["train"], work / "by_hand")
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    n_train, n_val = len(train), len(val)
    per_k = {  # seconds per 1,000 images
        "verify (MD5 of the archives)": t_md5 / (n_train + n_val) * 1e3,
        "train: index + unpack": (t_index + t_train) / n_train * 1e3,
        "val: devkit labels + unpack": t_val / n_val * 1e3,
        "manifest (merge)": t_manifest / (n_train + n_val) * 1e3,
    }
    total_k = sum(per_k.values())
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"images: {n_train} train in {len(members)} classes, {n_val} val; mean JPEG {arch['mean_kb']:.0f} KB; "
          f"archives {size / 1e6:.0f} MB; MD5 at {size / t_md5 / 1e6:.0f} MB/s")
    print(f"{'step':34s} {'s per 1,000 images':>20s}")
    for step, s in per_k.items():
        print(f"{step:34s} {s:20.2f}")
    print(f"{'prepare, all steps':34s} {total_k:20.2f}")
    print(f"{'check quick (size, mtime)':34s} {t_quick / len(entries) * 1e3:20.3f}")
    print(f"{'check full (sha256)':34s} {t_full / len(entries) * 1e3:20.2f}")
    tar_k = t_tar / n_train * 1e3
    unpack_k = (t_index + t_train) / n_train * 1e3
    print(f"{'reference: tar xf by hand (train)':34s} {tar_k:20.2f}   "
          f"(prepare's train unpack / tar: {unpack_k / tar_k:.2f}x)")
    hours = (per_k["verify (MD5 of the archives)"] * (IMAGENET_TRAIN + IMAGENET_VAL)
             + per_k["train: index + unpack"] * IMAGENET_TRAIN + per_k["val: devkit labels + unpack"] * IMAGENET_VAL
             + per_k["manifest (merge)"] * (IMAGENET_TRAIN + IMAGENET_VAL)) / 1e3 / 3600
    quick_min = t_quick / len(entries) * (IMAGENET_TRAIN + IMAGENET_VAL) / 60
    print(f"projected ImageNet-1k ({IMAGENET_TRAIN:,} train + {IMAGENET_VAL:,} val), one job at a time: "
          f"{hours:.2f} h (quick check of the tree: {quick_min:.1f} min)")


if __name__ == "__main__":
    main()
