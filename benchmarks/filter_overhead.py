"""Wall time the filter adds to generation (goal: under 10%), both measured in the same run.

    .venv/bin/python benchmarks/filter_overhead.py [--model DIR_OR_HUB_ID] [--device auto|cpu|cuda]
        [--steps 25] [--size 64] [--n 32] [--clip ViT-B-32] [--clip-weights TAG_OR_FILE] [--threads N]
    .venv/bin/python benchmarks/filter_overhead.py --run RUN_DIR   # a finished run's jobs only

Generates ``n`` images with the diffusers generator (without ``--model``: the tests' tiny
random Stable Diffusion pipeline) into a fresh store, then runs the filter's two steps
(``clipmend.generation.steps.score_generated_images``: CLIP load, image embeddings, class and
background checks; ``filter_images``: the thresholds) on them with open_clip ``--clip`` (random weights unless
``--clip-weights``). Prints both wall times and the filter's share of generation. The demo
pair (copy-paste generation, the demo's tiny CLIP) is printed too: copy-paste takes
milliseconds per image, so there the filter costs more than generating, which is why the
goal is stated against diffusion.

``--run RUN_DIR`` reads a finished run's Snakemake benchmark files instead (``benchmarks/runs/``
under RUN_DIR): per data set, the wall seconds of all generation jobs (``generate_images``,
its shards) against the filter's (``score_generated_images`` and ``filter_images``, one job each
per data set).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
import yaml  # noqa: E402

from clipmend.generation.registry import create_generator  # noqa: E402
from clipmend.generation.requests import ImageRequest  # noqa: E402
from clipmend.generation.steps import filter_images, score_generated_images  # noqa: E402
from clipmend.generation.store import generate_set  # noqa: E402
from clipmend.io import write_json, write_parquet  # noqa: E402
from clipmend.run_settings import RunSettings  # noqa: E402

CLASSES = ["dog", "cat"]
BACKGROUNDS = ["on a beach", "in the snow", "in a forest", "on a lawn"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="pipeline directory or hub id (default: tiny random SD)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--size", type=int, default=64, help="image height and width in pixels")
    parser.add_argument("--n", type=int, default=32, help="images generated and filtered")
    parser.add_argument("--clip", default="ViT-B-32", help="open_clip architecture of the filter")
    parser.add_argument("--clip-weights", default=None, help="open_clip tag or checkpoint (default: random)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--run", type=Path, help="a finished run's directory: its benchmark files only")
    return parser.parse_args(argv)


def requests(n: int, classes: list[str], backgrounds: list[str]) -> list[ImageRequest]:
    """``n`` requests cycling over the classes and backgrounds."""
    out = []
    for i in range(n):
        c, b = classes[i % len(classes)], backgrounds[(i // len(classes)) % len(backgrounds)]
        out.append(ImageRequest(c, classes.index(c), b, f"a photo of a {c} {b}", i))
    return out


def timed(generator, reqs: list[ImageRequest], arch: str, weights: str | None, classes: list[str],
          backgrounds: list[str], folder: Path, device: str) -> tuple[float, float]:
    """(generation seconds, filter seconds) of the same images, measured here."""
    start = time.perf_counter()
    manifest = generate_set(generator, reqs, folder / "store", batch_size=8, progress=False)
    generation = time.perf_counter() - start
    write_parquet(manifest, folder / "manifest.parquet")
    write_json(classes, folder / "classes.json")
    write_json({"classes": {c: {"backgrounds": backgrounds} for c in classes}}, folder / "backgrounds.json")
    start = time.perf_counter()
    score_generated_images([folder / "manifest.parquet"], folder / "backgrounds.json", folder / "classes.json",
                           folder / "scores.parquet", arch, weights, "a photo of a {class_name} {background}",
                           run=RunSettings(device=device))
    filter_images({"individual": folder / "manifest.parquet"}, folder / "scores.parquet",
                  {"individual": folder / "scored.parquet"}, {"class": 0.1, "background": 0.3})
    return generation, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    """Time generation and the filter on the same images, for diffusion and for the demo pair."""
    from tests.tiny_diffusion import build_tiny_pipeline

    args = parse_args(argv)
    if args.run:
        run_ratios(args.run)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model or str(build_tiny_pipeline(tmp / "tiny-sd"))
        diffusers = create_generator("diffusers", device=args.device, model=model, steps=args.steps,
                                     height=args.size, width=args.size)
        reqs = requests(args.n, CLASSES, BACKGROUNDS)
        rows.append((f"diffusers {args.model or 'tiny SD'} {args.steps} steps {args.size}px", f"{args.clip}",
                     *timed(diffusers, reqs, args.clip, args.clip_weights, CLASSES, BACKGROUNDS, tmp / "d",
                            args.device)))
        demo = yaml.safe_load((ROOT / "config/config.yaml").read_text())
        world = demo["generator"]["options"]["world"]
        copypaste = create_generator("copypaste", world=world)
        demo_classes = list(world["classes"])
        demo_bgs = ["on the grass", "in the water", "on the sand", "by a brick wall"]
        rows.append(("copypaste (demo)", "clipmend-tiny",
                     *timed(copypaste, requests(args.n, demo_classes, demo_bgs), "clipmend-tiny", None,
                            demo_classes, demo_bgs, tmp / "c", args.device)))
    device = torch.cuda.get_device_name() if torch.cuda.is_available() and args.device != "cpu" else "cpu"
    print(f"{args.n} images on {device} ({torch.get_num_threads()} CPU threads); filter = CLIP load + "
          "embeddings + checks; goal: filter < 10% of generation (diffusion)")
    print(f"{'generator':<40} {'filter CLIP':<14} {'generate s':>10} {'filter s':>9} {'filter/gen':>10}")
    for name, clip, gen_s, filt_s in rows:
        print(f"{name:<40} {clip:<14} {gen_s:>10.2f} {filt_s:>9.2f} {filt_s / gen_s:>9.1%}")


def run_ratios(run: Path) -> None:
    """Per data set of a finished run: generation's and the filter's job seconds (benchmark files)."""
    import pandas as pd

    runs = run / "benchmarks" / "runs"
    if not runs.is_dir():
        raise SystemExit(f"filter_overhead: no benchmark files under {runs}")

    def seconds(folder: Path, pattern: str) -> float:
        return float(sum(pd.read_csv(t, sep="\t")["s"].sum() for t in folder.glob(pattern)))

    print(f"{'dataset':<12} {'generate s':>10} {'score s':>8} {'thresholds s':>12} {'filter/gen':>10}")
    for folder in sorted(p for p in runs.iterdir() if p.is_dir()):
        gen = seconds(folder, "*/generate_images.tsv") + seconds(folder, "*/generate_images_shard/*.tsv")
        score = seconds(folder, "score_generated_images.tsv")
        apply = seconds(folder, "filter_images.tsv")
        if gen and (score or apply):
            print(f"{folder.name:<12} {gen:>10.1f} {score:>8.1f} {apply:>12.1f} {(score + apply) / gen:>9.1%}")


if __name__ == "__main__":
    main()
