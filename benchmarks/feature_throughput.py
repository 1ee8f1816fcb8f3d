"""Feature-extraction throughput: ``clipmend.models.features.extract`` against the bare model forward.

For each case the same images are embedded twice in one run: by ``extract`` from their
references (decoding and preprocessing included), and by the model alone on the same
images decoded and preprocessed beforehand. The ratio (bare time / extract time, the
median over back-to-back pairs of runs, so that a busy machine slows both alike) is the
share of model speed the extraction path keeps (goal: >= 0.8). Models carry random
weights (nothing to download); images are synthetic photos written as JPEG files or as a
uint8 ``.npy`` array, in the layouts the data-set builders produce. ``--threads 1`` is
how the workflow's extraction rules run (one torch thread, decoding workers beside it).

    .venv/bin/python benchmarks/feature_throughput.py [--images 256] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import clipmend._torchvision_fix  # noqa: F401  (before timm/open_clip/diffusers import torchvision)
from clipmend.data.image_batches import default_workers
from clipmend.data.images import array_ref, load_image
from clipmend.models.backbones import ModelSpec, create_model, model_transform
from clipmend.models.features import extract, resolve_device

DEMO_CFG = {
    "input_size": [3, 32, 32],
    "crop_pct": 1.0,
    "interpolation": "bilinear",
    "mean": [0.5, 0.5, 0.5],
    "std": [0.25, 0.25, 0.25],
}


@dataclass(frozen=True)
class Case:
    """One model on one kind of image source."""

    label: str
    spec: ModelSpec
    source: str  # jpeg (files of size jpeg_size) or npy (array rows of size npy_size)
    image_size: tuple[int, int]


CASES = [
    Case("resnet18 @224", ModelSpec("resnet18", "resnet18", "resnet"), "jpeg", (500, 375)),
    Case("resnet18 @224", ModelSpec("resnet18", "resnet18", "resnet"), "npy", (32, 32)),
    Case(
        "resnet10t @32 (demo)",
        ModelSpec("resnet10t", "resnet10t", "resnet", pretrained_cfg=DEMO_CFG),
        "npy",
        (32, 32),
    ),
    Case(
        "convnext_atto @32 (demo)",
        ModelSpec("convnext_atto", "convnext_atto", "convnext", pretrained_cfg=DEMO_CFG),
        "npy",
        (32, 32),
    ),
]


def synthetic_photos(n: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """``n`` smooth, photo-like uint8 images (W, H = ``size``): random waves plus a little noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    images = np.empty((n, h, w, 3), dtype=np.uint8)
    for i in range(n):
        freq, phase = rng.uniform(1, 12, (3, 2)), rng.uniform(0, 2 * np.pi, 3)
        waves = [np.sin(2 * np.pi * (f[0] * x + f[1] * y) + p) for f, p in zip(freq, phase)]
        image = 127 + 100 * np.stack(waves, axis=-1) + rng.normal(0, 12, (h, w, 3))
        images[i] = np.clip(image, 0, 255).astype(np.uint8)
    return images


def write_refs(folder: Path, source: str, images: np.ndarray) -> list[str]:
    """Store ``images`` as JPEG files or as one ``.npy``; return their references."""
    if source == "npy":
        path = folder / f"images_{images.shape[1]}.npy"
        np.save(path, images)
        return [array_ref(path, i) for i in range(len(images))]
    refs = []
    for i, image in enumerate(images):
        path = folder / f"{i:05d}.JPEG"
        Image.fromarray(image).save(path, quality=90)
        refs.append(str(path))
    return refs


def paired_times(
    bare: Callable[[], object], ours: Callable[[], object], repeats: int
) -> np.ndarray:
    """Seconds of ``repeats`` back-to-back (bare, ours) pairs: load hits both runs of a pair alike."""
    times = np.empty((repeats, 2))
    for r in range(repeats):
        for j, run in enumerate((bare, ours)):
            start = time.perf_counter()
            run()
            times[r, j] = time.perf_counter() - start
    return times


@torch.no_grad()
def measure(case: Case, folder: Path, n: int, batch_size: int, device: str, repeats: int) -> dict:
    """Images per second of the bare forward and of ``extract`` for one case."""
    model = (
        create_model(case.spec, num_classes=10, pretrained=False).eval().to(resolve_device(device))
    )
    transform = model_transform(model)
    refs = write_refs(folder, case.source, synthetic_photos(n, case.image_size))
    dev = resolve_device(device)

    def encode(x: torch.Tensor) -> torch.Tensor:
        return model.forward_head(model.forward_features(x), pre_logits=True)

    batches = [
        torch.stack([transform(load_image(r)) for r in refs[i : i + batch_size]])
        for i in range(0, n, batch_size)
    ]

    def bare() -> None:
        for batch in batches:
            with torch.autocast(dev.type, enabled=dev.type == "cuda"):
                encode(batch.to(dev)).float().cpu()

    extract(encode, transform, refs[:batch_size], batch_size, device)  # warm-up
    times = paired_times(
        bare, lambda: extract(encode, transform, refs, batch_size, device), repeats
    )
    same = np.array_equal(
        np.concatenate([encode(b.to(dev)).float().cpu().numpy() for b in batches]),
        extract(encode, transform, refs, batch_size, device),
    )
    return {
        "case": case.label,
        "images": f"{case.source} {case.image_size[0]}x{case.image_size[1]}",
        "bare": n / np.median(times[:, 0]),
        "extract": n / np.median(times[:, 1]),
        "ratio": float(np.median(times[:, 0] / times[:, 1])),  # median over the pairs
        "identical": same,
    }


def main() -> None:
    """Run every case and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"{default_workers()} decoding workers, device {resolve_device(args.device)}, "
        f"{args.images} images, batch {args.batch_size}"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(CASES):
            folder = Path(tmp) / str(i)
            folder.mkdir()
            rows.append(
                measure(case, folder, args.images, args.batch_size, args.device, args.repeats)
            )
    print(
        f"{'model':<26}{'images':<14}{'bare img/s':>11}{'extract img/s':>15}{'ratio':>7}  identical"
    )
    for r in rows:
        print(
            f"{r['case']:<26}{r['images']:<14}{r['bare']:>11.1f}{r['extract']:>15.1f}"
            f"{r['ratio']:>7.2f}  {r['identical']}"
        )


if __name__ == "__main__":
    main()
