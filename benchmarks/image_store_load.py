"""Per-image cost of the generated-image store at 10^3 and 10^5 images: flat, or not?

    .venv/bin/python benchmarks/image_store_load.py [--small 1000] [--large 100000]
        [--sample 200] [--repeats 5] [--dir DIR]

Fills two stores (``clipmend.generation.store``, copypaste generator on the demo world)
with ``--small`` and ``--large`` images: ``--sample`` of them through the real write path
(``generate_set`` generating them), the rest as tiny PNG files written straight to their
content-addressed paths, which is all a lookup reads. It times, per image, the two
stores in turns (so load from other processes hits both alike; fastest of ``--repeats``,
warm page cache): a resume of a job whose images are all in the store (``generate_set``
with nothing to generate: keys, lookups, manifest), the same for the first ``--small``
images, a single-image lookup, and the real write of ``--sample`` new images; and counts
the directory listings a resume makes. The last line is the resume cost per image at the
large size relative to the small one.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import yaml

from clipmend.demo.fmnist import CLASS_NAMES
from clipmend.demo.textures import BACKGROUNDS
from clipmend.generation.registry import create_generator
from clipmend.generation.requests import ImageRequest
from clipmend.generation.store import generate_set, image_key, store_path

ROOT = Path(__file__).resolve().parents[1]

# a valid 1x1 RGB PNG: the cheap stand-in for a generated image
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
    "0000000c4944415408d763f8ffff3f0005fe02fea7356a810000000049454e44ae426082"
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=1000, help="images in the small store")
    parser.add_argument("--large", type=int, default=100_000, help="images in the large store")
    parser.add_argument("--sample", type=int, default=200, help="images made by the real write path")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs; the fastest counts")
    parser.add_argument("--dir", help="where to put the store (default: a temporary folder)")
    return parser.parse_args(argv)


def requests(start: int, stop: int) -> list[ImageRequest]:
    """Distinct image requests number start..stop-1 (class, background and seed vary)."""
    out = []
    for i in range(start, stop):
        label, background = i % len(CLASS_NAMES), BACKGROUNDS[(i // len(CLASS_NAMES)) % len(BACKGROUNDS)]
        name = CLASS_NAMES[label]
        out.append(ImageRequest(name, label, background, f"a photo of a {name} {background}", i))
    return out


def fill(store: Path, identity: dict, batch: list[ImageRequest]) -> None:
    """Put a tiny PNG at the content address of every request in batch."""
    for request in batch:
        path = store_path(store, image_key(identity, request))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(TINY_PNG)


def timed(work: Callable[..., object], *args: object, **kwargs: object) -> float:
    """Wall time of one call ``work(*args, **kwargs)``."""
    start = time.perf_counter()
    work(*args, **kwargs)
    return time.perf_counter() - start


def listings_during(work: Callable[..., object], *args: object, **kwargs: object) -> int:
    """How many directory listings (os.scandir, os.listdir) ``work(*args, **kwargs)`` makes."""
    calls = 0

    def counted(real):
        def wrapper(*args, **kwargs):
            nonlocal calls
            calls += 1
            return real(*args, **kwargs)
        return wrapper

    with mock.patch("os.scandir", counted(os.scandir)), mock.patch("os.listdir", counted(os.listdir)):
        work(*args, **kwargs)
    return calls


def lookups(store: Path, keys: list[str]) -> list[bool]:
    """Whether each key's image is in the store."""
    return [store_path(store, key).exists() for key in keys]


def build(root: Path, generator, size: int, sample: int) -> Path:
    """A store of ``size`` images: ``sample`` by the real write path, the rest tiny PNGs."""
    store = root / f"store_{size}"
    generate_set(generator, requests(0, sample), store, progress=False)
    started = time.perf_counter()
    for start in range(sample, size, 10_000):
        fill(store, generator.identity(), requests(start, min(size, start + 10_000)))
        print(f"  {store.name}: {min(size, start + 10_000)} images", flush=True)
    print(f"  {store.name} filled in {time.perf_counter() - started:.1f} s", flush=True)
    return store


def measure(stores: dict[int, Path], generator, small: int, args: argparse.Namespace) -> dict[int, dict]:
    """Per-image figures (microseconds) for each store, the sizes timed in turns, fastest counts."""
    small_job = requests(0, small)
    keys = [image_key(generator.identity(), r) for r in random.Random(0).sample(small_job, min(small, 1000))]
    best: dict[int, dict[str, float]] = {size: {} for size in stores}
    next_id = 10**9  # ids of the timed new writes: never part of a job
    for repeat in range(args.repeats):
        for size, store in stores.items():
            job = requests(0, size)
            new = requests(next_id, next_id + args.sample)
            next_id += args.sample
            figures = {
                "resume": timed(generate_set, generator, job, store, progress=False) / size,
                "resume_small": timed(generate_set, generator, small_job, store, progress=False) / small,
                "lookup": timed(lookups, store, keys) / len(keys),
                "write": timed(generate_set, generator, new, store, progress=False) / len(new),
            }
            for name, seconds in figures.items():
                best[size][name] = min(best[size].get(name, float("inf")), seconds * 1e6)
        print(f"  timed round {repeat + 1} of {args.repeats}", flush=True)
    for size, store in stores.items():
        job = requests(0, size)
        best[size]["listings"] = listings_during(generate_set, generator, job, store, progress=False)
    return best


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    world = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["generator"]["options"]["world"]
    generator = create_generator("copypaste", world=world)
    print(f"stores of copypaste images: {args.small} and {args.large}; {args.sample} images each "
          f"through the real write path; sizes timed in turns, fastest of {args.repeats}", flush=True)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        stores = {size: build(Path(tmp), generator, size, args.sample) for size in (args.small, args.large)}
        rows = measure(stores, generator, args.small, args)
        shards = sum(1 for p in stores[args.large].iterdir() if p.is_dir())
        report(rows, shards, args)  # before the stores are removed: 10^5 unlinks can take minutes


def report(rows: dict[int, dict], shards: int, args: argparse.Namespace) -> None:
    """Print the table and the ratios."""
    print(f"\n{'store size':>10} {'resume/img us':>13} {f'resume {args.small}-job/img us':>22} "
          f"{'lookup us':>9} {'write/img us':>12} {'listings':>8}")
    for size, r in rows.items():
        print(f"{size:>10} {r['resume']:>13.1f} {r['resume_small']:>22.1f} {r['lookup']:>9.2f} "
              f"{r['write']:>12.0f} {r['listings']:>8}")
    small, large = rows[args.small], rows[args.large]
    print(f"\n{shards} shard folders, ~{args.large // max(shards, 1)} images each at {args.large}")
    for key, what in [("resume_small", f"resume of a {args.small}-image job"), ("lookup", "lookup"),
                      ("write", "write")]:
        print(f"{what}: {large[key] / small[key]:.2f} x per image at {args.large} vs {args.small}")
    print(f"resume per image at {args.large} vs {args.small}: {large['resume'] / small['resume']:.2f}")


if __name__ == "__main__":
    main()
