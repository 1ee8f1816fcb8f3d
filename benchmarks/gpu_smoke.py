"""GPU smoke test: the demo DAG and a paper-size head job on CUDA, with throughput figures.

Usage: python benchmarks/gpu_smoke.py [--device cuda] [--epochs 20] [--skip-dag] [--cores 16]

1. Runs ``snakemake all_models`` on the demo config with ``device`` set, from empty results
   in a temporary directory, and prints its wall time and the time per rule (every model,
   CLIP, training and head on the device: a model left on the CPU fails the run).
2. Trains heads at the paper's size (30 000 train rows of 2048 features, 1000 classes,
   three heads — baseline, random, individual — with 50 000 generated rows each) for
   ``--epochs`` full-batch steps on the device within the config's memory budget, and
   prints steps per second, achieved TFLOP/s and the projected time of 1000 epochs.

Run it whenever a GPU is lent; with ``--device cpu`` it checks itself on a CPU at a small
size (``--small``). Exit status 2: the device is not there.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from rule_times import load, summarise  # noqa: E402

from clipmend.debugging.heads import HeadParams, train_heads  # noqa: E402
from clipmend.devices import resolve_device, synchronize  # noqa: E402


def run_dag(device: str, cores: int, small: bool) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    config["device"] = device
    if small:  # a CPU self-check: two models, few images, one epoch
        world = config["datasets"]["demo"]["options"]
        world.update(n_train_per_class=40, n_val_per_class=20, n_test_per_class=10, n_clip_per_class=40)
        config["generator"]["options"]["world"] = world
        config["models"] = {m: config["models"][m] for m in ("resnet10t", "vit_d4")}
        config["train"]["epochs"] = config["clip"]["train"]["epochs"] = 1
        config["generator"].update(k=2, images_per_background=2)
        config["head"]["epochs"] = 10
    with tempfile.TemporaryDirectory(prefix="gpu_smoke_") as tmp:
        workdir = Path(tmp)
        (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        cmd = [str(Path(sys.executable).with_name("snakemake")), "-s", str(REPO / "Snakefile"),
               "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
               "--cores", str(cores), "all_models"]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        wall = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stderr[-4000:])
            raise SystemExit(f"demo DAG failed on {device} after {wall:.0f} s")
        table = summarise(load(workdir / "benchmarks" / "runs"))
        print(f"demo DAG on {device}: all_models from empty results in {wall:.1f} s wall "
              f"({len(config['models'])} models, --cores {cores})")
        print(table[["jobs", "total_s", "mean_s", "max_rss_mb"]].to_string(float_format=lambda v: f"{v:.1f}"))
        summary = (workdir / "results" / "demo" / "summary.csv").read_text()
        print("summary.csv:\n" + summary)


def head_job(device: str, epochs: int, small: bool, memory_gb: float) -> None:
    n, dim, classes, generated = (30_000, 2048, 1000, 50_000) if not small else (3000, 256, 100, 5000)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    y = rng.integers(0, classes, n)
    sets = [(x[:0], y[:0])] + [(rng.standard_normal((generated, dim), dtype=np.float32),
                                 rng.integers(0, classes, generated)) for _ in range(2)]
    lambdas = [0.0, 0.5, 0.5]
    dev = resolve_device(device)
    params = HeadParams(epochs=epochs)
    train_heads(x, y, sets, lambdas, classes, HeadParams(epochs=1), device=dev,
                memory_bytes=int(memory_gb * 1e9), progress=False)  # warm-up: kernels, allocator
    synchronize(dev)
    start = time.perf_counter()
    train_heads(x, y, sets, lambdas, classes, params, device=dev, memory_bytes=int(memory_gb * 1e9),
                progress=False)
    synchronize(dev)
    seconds = time.perf_counter() - start
    rows = 3 * n + 2 * generated  # every head sees the original rows; two heads their generated set
    flop = 3 * 2 * rows * dim * classes * epochs  # forward, and the two backward matmuls
    peak = torch.cuda.max_memory_allocated(dev) / 1e9 if dev.type == "cuda" else float("nan")
    print(f"head job on {dev}: {n} x {dim} features, {classes} classes, 3 heads, "
          f"{generated} generated rows per set, {epochs} epochs in {seconds:.2f} s")
    print(f"  {epochs / seconds:.1f} epochs/s, {flop / seconds / 1e12:.2f} TFLOP/s achieved, "
          f"peak device memory {peak:.1f} GB (budget {memory_gb} GB)")
    print(f"  projected 1000 epochs (the paper's): {1000 * seconds / epochs / 60:.1f} min per debug_heads job")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--memory-gb", type=float, default=40.0, help="the head job's device budget")
    parser.add_argument("--skip-dag", action="store_true")
    parser.add_argument("--small", action="store_true", help="small sizes, for a check on a CPU")
    args = parser.parse_args()
    try:
        resolve_device(args.device)
    except (RuntimeError, ValueError) as err:
        print(f"gpu_smoke: {err}")
        raise SystemExit(2) from None
    if args.device.startswith("cuda"):
        print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    head_job(args.device, args.epochs, args.small, args.memory_gb)
    if not args.skip_dag:
        run_dag(args.device, args.cores, args.small)


if __name__ == "__main__":
    main()
