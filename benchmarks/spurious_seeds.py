"""Seconds of the second paper's fine-tuning over seeds: one job looping the seeds, against a job per seed.

    .venv/bin/python benchmarks/spurious_seeds.py results/demo/spurious/clip/features.pt
        [--method ours_ls] [--seeds 5] [--epochs 30]

Prints, measured in this run: a job's start (a fresh Python importing torch and the spurious
steps: the reference), one seed in-process, all seeds in-process (what ``spurious_train``
does), and the projected job-per-seed cost (seeds x (start + one seed)), with their ratio.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from clipmend.spurious.steps import train_method


def _start_seconds() -> float:
    begin = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, clipmend.spurious.steps"], check=True)
    return time.perf_counter() - begin


def _fit_seconds(features: Path, method: str, seeds: list[int], epochs: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        begin = time.perf_counter()
        train_method(features, method, "clip", out / "m.pt", out / "p.parquet", out / "h.csv",
                     {"lr": 0.1, "epochs": epochs, "batch_size": 128}, seeds=seeds)
        return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("features", type=Path)
    parser.add_argument("--method", default="ours_ls")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    start = _start_seconds()
    one = _fit_seconds(args.features, args.method, [0], args.epochs)
    loop = _fit_seconds(args.features, args.method, list(range(args.seeds)), args.epochs)
    per_job = args.seeds * (start + one)
    print("| what | seconds | vs job start |")
    print("| --- | --- | --- |")
    for name, value in [("job start (python, torch, steps imported): reference", start),
                        (f"{args.method}, 1 seed in-process", one),
                        (f"{args.method}, {args.seeds} seeds in one job", start + loop),
                        (f"{args.method}, one job per seed (projected)", per_job)]:
        print(f"| {name} | {value:.1f} | {value / start:.1f}x |")
    print(f"one job looping the seeds / a job per seed: {(start + loop) / per_job:.2f}")


if __name__ == "__main__":
    main()
