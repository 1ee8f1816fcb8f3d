"""Images per second of the diffusers generator at batch sizes 1, 4 and 8.

    .venv/bin/python benchmarks/generation_throughput.py [--model DIR_OR_HUB_ID]
        [--device auto|cpu|cuda] [--steps 10] [--size 64] [--n 16] [--repeats 3] [--threads N]

Without ``--model`` it builds the tiny random Stable Diffusion pipeline of the tests in a
temporary folder. Each batch size generates the same ``n`` requests after one warm-up
batch; the table shows the fastest of ``--repeats`` runs and the speed-up over batch 1
measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch

from clipmend.generation.diffusion import DiffusersGenerator
from clipmend.generation.registry import create_generator
from clipmend.generation.requests import ImageRequest
from tests.tiny_diffusion import build_tiny_pipeline

BATCH_SIZES = (1, 4, 8)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="pipeline directory or hub id (default: tiny random SD)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, default=64, help="image height and width in pixels")
    parser.add_argument("--n", type=int, default=16, help="images per batch size")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the fastest counts")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    return parser.parse_args(argv)


def requests(n: int) -> list[ImageRequest]:
    """``n`` distinct prompts and seeds."""
    return [
        ImageRequest("dog", 0, f"scene {i}", f"a photo of a dog in scene {i}", i) for i in range(n)
    ]


def seconds_for(generator: DiffusersGenerator, batch: list[ImageRequest], repeats: int) -> float:
    """Fastest wall time to generate ``batch`` after a warm-up call."""
    list(generator.generate(batch[: generator.batch_size]))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        list(generator.generate(batch))
        if generator.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(model: str, args: argparse.Namespace) -> tuple[DiffusersGenerator, list[tuple]]:
    """(batch size, seconds, images per second) for each batch size, one loaded pipeline."""
    generator = create_generator(
        "diffusers",
        model=model,
        device=args.device,
        steps=args.steps,
        height=args.size,
        width=args.size,
    )
    batch = requests(args.n)
    rows = []
    for batch_size in BATCH_SIZES:
        generator.batch_size = batch_size
        seconds = seconds_for(generator, batch, args.repeats)
        rows.append((batch_size, seconds, args.n / seconds))
    return generator, rows


def print_table(generator: DiffusersGenerator, rows: list[tuple], args: argparse.Namespace) -> None:
    """The figures, with the speed-up over batch size 1."""
    where = torch.cuda.get_device_name() if generator.device.startswith("cuda") else "cpu"
    model = args.model or "tiny random SD pipeline"
    print(
        f"model {model} on {where} ({generator.dtype}, {torch.get_num_threads()} "
        f"CPU threads), {args.size}x{args.size} px, {args.steps} steps, "
        f"guidance {generator.guidance}, {args.n} images, best of {args.repeats}"
    )
    print(f"{'batch':>5} {'seconds':>8} {'images/s':>9} {'vs batch 1':>10}")
    reference = rows[0][2]
    for batch_size, seconds, rate in rows:
        print(f"{batch_size:>5} {seconds:>8.2f} {rate:>9.2f} {rate / reference:>9.2f}x")


def main(argv: list[str] | None = None) -> None:
    """Build or take a pipeline, time it at each batch size, print the table."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(build_tiny_pipeline(Path(tmp) / "tiny-sd"))
        generator, rows = measure(model, args)
    print_table(generator, rows, args)


if __name__ == "__main__":
    main()
