"""A small real world for the real-path integration test, written offline in seconds.

Everything a new user would bring, at toy size: an ImageFolder data set of JPEG and PNG
files (three shapes; in ``train`` each sits on its own background colour 85% of the
time, in ``val`` and ``test`` the backgrounds are spread evenly; one corrupt file), a
user's own 3-class timm fine-tune saved with ``torch.save(model.state_dict())``, a
MoCo v2 checkpoint (official key layout), open_clip ViT-B-32 as a local checkpoint (random
weights, stored in float16), the tiny Stable Diffusion pipeline, and a config that uses
only real backends (imagefolder, timm/checkpoint/open_clip, the openai LLM backend
against a local server, diffusers). No demo module or column is involved.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw

import clipmend._torchvision_fix  # noqa: F401  (before timm/open_clip/diffusers import torchvision)

# isort: split
import torch

from tests.tiny_diffusion import build_tiny_pipeline
from tests.unit.test_models_registry import official_layout

CLASSES = ("circle", "square", "triangle")
COLOURS = {"red": (200, 40, 40), "green": (40, 160, 60), "blue": (40, 70, 200)}
COMMON = {"circle": "red", "square": "green", "triangle": "blue"}  # train's shortcut
PER_SPLIT = {"train": 16, "val": 12, "test": 6}  # images per class
SIZE = 64
CORRELATION = 0.85
SMALL_INPUT = {"input_size": [3, SIZE, SIZE], "crop_pct": 1.0, "interpolation": "bilinear"}
MODELS = ("mine", "moco", "clip_b32")


def draw(shape: str, colour: str, rng: np.random.Generator) -> Image.Image:
    """One shape, in a light tone, on a noisy background of ``colour``."""
    base = np.array(COLOURS[colour], dtype=np.float32)
    pixels = np.clip(base + rng.normal(0, 18, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    c, r = rng.integers(24, 40, 2), int(rng.integers(10, 16))
    box = [int(c[0] - r), int(c[1] - r), int(c[0] + r), int(c[1] + r)]
    fill = tuple(int(v) for v in rng.integers(200, 256, 3))
    pen = ImageDraw.Draw(image)
    if shape == "circle":
        pen.ellipse(box, fill=fill)
    elif shape == "square":
        pen.rectangle(box, fill=fill)
    else:
        pen.polygon([(box[0], box[3]), (box[2], box[3]), (int(c[0]), box[1])], fill=fill)
    return image


def write_images(root: Path, seed: int = 0) -> Path:
    """``root/<split>/<class>/*.jpg|png``; in train, each class mostly on its own colour."""
    rng = np.random.default_rng(seed)
    others = list(COLOURS)
    for split, n in PER_SPLIT.items():
        for shape in CLASSES:
            folder = root / split / shape
            folder.mkdir(parents=True)
            for i in range(n):
                if split == "train" and rng.random() < CORRELATION:
                    colour = COMMON[shape]
                else:
                    colour = others[(i + CLASSES.index(shape)) % len(others)]
                suffix = "jpg" if i % 2 else "png"
                draw(shape, colour, rng).save(folder / f"{shape}_{i:03d}.{suffix}")
    (root / "train" / "circle" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    return root


def write_checkpoints(folder: Path) -> dict[str, Path]:
    """The model files: a 3-class timm fine-tune, a MoCo v2 checkpoint, open_clip ViT-B-32."""
    import open_clip
    import timm

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    files = {"mine": folder / "resnet10t_3class.pth", "moco": folder / "moco_v2_800ep.pth.tar",
             "clip": folder / "vit_b32.pt"}
    mine = timm.create_model("resnet10t", pretrained=False, num_classes=len(CLASSES))
    torch.save(mine.state_dict(), files["mine"])
    moco = timm.create_model("resnet18", pretrained=False)
    torch.save(official_layout(moco.state_dict(), "moco"), files["moco"])
    clip = open_clip.create_model("ViT-B-32")
    torch.save({k: v.half() for k, v in clip.state_dict().items()}, files["clip"])  # ~300 MB
    return files


def real_config(data: Path, files: dict[str, Path], pipeline: Path, llm_url: str,
                llm_cache: Path) -> dict:
    """A config with only real backends, sized to run in minutes on two CPU cores."""
    prompt = "a photo of a {class_name} {background}"
    return {
        "device": "cpu",
        "datasets": {"shapes": {"kind": "imagefolder", "options": {"root": str(data)}}},
        "models": {
            "mine": {"arch": "resnet10t", "family": "resnet", "weights": str(files["mine"]),
                     "pretrained_cfg": SMALL_INPUT},
            "moco": {"arch": "resnet18", "family": "resnet", "source": "checkpoint",
                     "layout": "moco", "weights": str(files["moco"]),
                     "pretrained_cfg": SMALL_INPUT},
            "clip_b32": {"arch": "ViT-B-32", "family": "clip", "source": "open_clip",
                         "weights": str(files["clip"])},
        },
        "features": {"batch_size": 32},
        "failures": {"baseline": {"epochs": 50}},
        "llm": {
            "backend": "openai",
            "prompt": "What are the uncommon backgrounds that a {class_name} can appear in?",
            "options": {"model": "smollm2-135m", "base_url": llm_url, "max_tokens": 96,
                        "temperature": 0.0, "timeout": 120, "max_retries": 1, "concurrency": 1,
                        "backoff_base": 0.1, "cache_dir": str(llm_cache)},
            "dedup_threshold": 0.98,
            "fallback": ["on a beach", "in the snow", "in a forest"],
        },
        "clip": {"arch": "ViT-B-32", "weights": str(files["clip"]), "prompt": prompt},
        "generator": {
            "backend": "diffusers", "prompt": prompt, "random_prompt": "a photo of a {class_name}",
            "k": 2, "images_per_background": 2, "batch_size": 4, "seed": 0,
            "options": {"model": str(pipeline), "steps": 2, "height": SIZE, "width": SIZE},
        },
        # the run's heads train on what the filter keeps (ViT-B-32 scores each diffusers image)
        "filter": {"enabled": True, "thresholds": {"class": 0.2, "background": 0.05}},
        "head": {"epochs": 30},
        "paper": {"lambdas": [0.0, 0.5], "k": [1, 2], "gallery_size": 3},
    }


DEMO_BLOCKER = """\
# Written by tests/real_world.py: on the real path nothing may import the demo package.
import importlib.abc
import sys


class _NoDemo(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "clipmend.demo" or name.startswith("clipmend.demo."):
            raise ImportError(f"{name} imported on the real path (a non-demo data set)")
        return None


sys.meta_path.insert(0, _NoDemo())
"""


def demo_blocker(folder: Path) -> dict[str, str]:
    """Environment variables under which any import of ``clipmend.demo`` fails loudly."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(DEMO_BLOCKER)
    # first on the path, so its sitecustomize runs; the caller's path (a checkout's src) is kept
    paths = [str(folder)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {"PYTHONPATH": os.pathsep.join(paths)}


def build_real_world(root: Path, llm_url: str) -> Path:
    """Write the data, checkpoints, pipeline and ``root/config.yaml``; return the config path."""
    root = Path(root)
    data = write_images(root / "shapes")
    files = write_checkpoints(root / "weights")
    pipeline = build_tiny_pipeline(root / "tiny-sd")
    config = real_config(data, files, pipeline, llm_url, root / "llm-cache")
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
