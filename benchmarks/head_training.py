"""Achieved FLOP/s of head training against bare matmuls of the same shapes, in one run.

Training: one ``train_heads`` call (the planner's chunks for the budget) on paper-like
shapes scaled to the machine: several heads (one at λ = 0, the others each with a
generated set of its own) over the same original rows. Bare: per step, exactly the
matmuls a step needs, in the plan's row chunks, on the same device: the forward logits
(rows x dim @ dim x heads·classes) and the weight gradient (heads·classes x rows @ rows
x dim), for the original rows (all heads at once, the unchunked ideal even when the plan
splits heads) and for each generated set (its head). The input gradient is never needed (features are
frozen), so neither side computes it. Both are timed the same way (synchronised wall
clock, best of ``--repeats``); FLOPs count the matmuls (2·m·n·k each).

    .venv/bin/python benchmarks/head_training.py [--device auto] [--seconds 60]

The last line is ``efficiency R`` with R = achieved / bare FLOP/s.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from clipmend.debugging.heads import GB, HeadParams, memory_budget, plan_for, train_heads
from clipmend.devices import allow_tf32, resolve_device, synchronize
from clipmend.run_settings import RunSettings


def synthetic(n: int, dim: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian class clusters in ``dim`` dimensions (float32 features, int labels)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)).astype(np.float32)
    y = rng.integers(0, classes, n)
    return (centres[y] + 2.0 * rng.standard_normal(size=(n, dim), dtype=np.float32)).astype(np.float32), y


def step_flops(n: int, n_gen: int, heads: int, dim: int, classes: int) -> float:
    """Matmul FLOPs of one full-batch step: forward and weight gradient, original and generated."""
    original = 2 * (2.0 * n * dim * heads * classes)
    generated = (heads - 1) * 2 * (2.0 * n_gen * dim * classes)
    return original + generated


def bare_steps(blocks, rows: int, device: torch.device, steps: int) -> float:
    """Seconds for ``steps`` steps of only the matmuls (same shapes, same row chunks)."""
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        for x, w, b, gw in blocks:
            logits = torch.empty((min(rows, len(x)), w.shape[0]), device=device)
            for i in range(0, len(x), rows):
                xs = x[i : i + rows]
                out = logits[: len(xs)]
                torch.addmm(b, xs, w.T, out=out)
                gw.addmm_(out.T, xs)
    synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    """Time training and bare matmuls, print both and their ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    ap.add_argument("--seconds", type=float, default=60, help="about how long the timed runs take")
    ap.add_argument("--n", type=int, default=3000, help="original training rows")
    ap.add_argument("--n-gen", type=int, default=1000, help="generated rows per set")
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--heads", type=int, default=4, help="heads: one at lambda 0, each other with its own set")
    ap.add_argument("--memory-gb", type=float, default=None,
                    help="planner budget (default: the run settings' host_gb / device_gb)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--repeats", type=int, default=2, help="timed runs of each; the best counts")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    allow_tf32(device)
    if args.memory_gb is None:
        budget = memory_budget(RunSettings(), device)
    else:
        budget = int(args.memory_gb * GB)
    x, y = synthetic(args.n, args.dim, args.classes, 0)
    sets = [(x[:0], y[:0])] + [synthetic(args.n_gen, args.dim, args.classes, s) for s in range(1, args.heads)]
    lambdas = [0.0] + [0.5] * (args.heads - 1)
    plan = plan_for(x, sets, lambdas, args.classes, budget)

    def train(epochs: int) -> float:
        synchronize(device)
        start = time.perf_counter()
        train_heads(x, y, sets, lambdas, args.classes, HeadParams(epochs=epochs), progress=False,
                    device=device, plan=plan)
        synchronize(device)
        return time.perf_counter() - start

    # bare operands: the features on the device in the plan's storage, one weight per block
    heads, c, d = args.heads, args.classes, args.dim
    on = lambda a: torch.as_tensor(a, device=device).to(plan.storage).float()  # noqa: E731
    blocks = [(on(x), torch.randn(heads * c, d, device=device) * 0.01, torch.zeros(heads * c, device=device),
               torch.zeros(heads * c, d, device=device))]
    blocks += [(on(xg), torch.randn(c, d, device=device) * 0.01, torch.zeros(c, device=device),
                torch.zeros(c, d, device=device)) for xg, _ in sets[1:]]

    # calibrate: one warm-up step of each, then as many steps as fit the time
    bare_steps(blocks, plan.rows, device, 1)
    train(1)
    per_step = bare_steps(blocks, plan.rows, device, 2) / 2
    steps = max(3, int(args.seconds / (2 * args.repeats) / (per_step / 0.8)))
    times: dict[str, list[float]] = {"training": [], "bare": []}
    for _ in range(args.repeats):
        times["training"].append(train(steps))
        times["bare"].append(bare_steps(blocks, plan.rows, device, steps))
    flops = steps * step_flops(args.n, args.n_gen, heads, d, c)
    best = {name: min(t) for name, t in times.items()}
    rate = {name: flops / t / 1e9 for name, t in best.items()}
    blas = "MKL" if torch.backends.mkl.is_available() else "?"
    print(f"device {device}, {torch.get_num_threads()} torch threads ({blas}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}, not used by torch)")
    print(f"{args.n} original rows + {heads - 1} generated sets of {args.n_gen}, dim {d}, {c} classes, "
          f"{heads} heads, {steps} full-batch steps, best of {args.repeats}")
    print(f"plan: {plan.describe()}")
    print(f"matmul FLOPs per step: {step_flops(args.n, args.n_gen, heads, d, c) / 1e9:.1f} G")
    for name, t in times.items():
        print(f"{name:>9}: {best[name]:7.2f} s  {rate[name]:8.1f} GFLOP/s  "
              f"(runs: {', '.join(f'{v:.2f}' for v in t)})")
    print(f"efficiency {rate['training'] / rate['bare']:.2f}")


if __name__ == "__main__":
    main()
