"""Batched vs sequential head training for a λ sweep, timed in the same run.

Batched: all λ values in one ``train_heads`` call (what the sweep rule does).
Sequential: one ``train_heads`` call per λ. Both see the same synthetic features, and
their heads must agree, so the ratio compares equal work.

    .venv/bin/python benchmarks/head_batching.py [--threads 1] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from clipmend.debugging.heads import HeadParams, train_heads
from clipmend.debugging.sweeps import LAMBDAS


def synthetic(n: int, dim: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian class clusters in ``dim`` dimensions (float32 features, int labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)).astype(np.float32)
    y = rng.integers(0, classes, n)
    return (centres[y] + 2.0 * rng.normal(size=(n, dim))).astype(np.float32), y


def main() -> None:
    """Time both ways and print the speed-up."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000, help="original training rows")
    ap.add_argument(
        "--n-gen", type=int, default=1000, help="generated rows (k=5 x 20 images x 10 classes)"
    )
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the rules use 1)")
    ap.add_argument(
        "--repeats", type=int, default=2, help="timed runs of each way; the best counts"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x, y = synthetic(args.n, args.dim, args.classes, 0)
    gen = synthetic(args.n_gen, args.dim, args.classes, 1)
    lambdas = list(LAMBDAS)
    params = HeadParams(epochs=args.epochs)

    def batched():
        return train_heads(
            x, y, [gen] * len(lambdas), lambdas, args.classes, params, progress=False
        )

    def sequential():
        return [
            train_heads(x, y, [gen], [lam], args.classes, params, progress=False)[0]
            for lam in lambdas
        ]

    times: dict[str, list[float]] = {"batched": [], "sequential": []}
    heads = {}
    for _ in range(args.repeats):
        for name, run in (("batched", batched), ("sequential", sequential)):
            start = time.perf_counter()
            heads[name] = run()
            times[name].append(time.perf_counter() - start)
    diff = max(
        float(np.abs(a.weight - b.weight).max())
        for a, b in zip(heads["batched"], heads["sequential"])
    )
    best = {name: min(t) for name, t in times.items()}
    print(
        f"features {args.n}x{args.dim} (+{args.n_gen} generated), {args.classes} classes, "
        f"{len(lambdas)} lambda values, {args.epochs} epochs, {args.threads} threads, "
        f"best of {args.repeats}"
    )
    for name, t in times.items():
        print(f"{name:>10}: {best[name]:7.2f} s  (runs: {', '.join(f'{v:.2f}' for v in t)})")
    print(f"  speed-up: {best['sequential'] / best['batched']:.2f}x (sequential / batched)")
    print(f"max |weight difference| batched vs sequential: {diff:.2e}")


if __name__ == "__main__":
    main()
