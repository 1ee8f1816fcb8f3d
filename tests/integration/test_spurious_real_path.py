"""The second paper on its real path: `spurious` on a Waterbirds-layout data set, nothing of the demo.

The world: shapes (landbird = circle, waterbird = triangle) on land (green) or water (blue),
90% on their own place in train, balanced in val and test, written in the WILDS layout
(``metadata.csv`` with img_filename, y, split, place) with a segmentation mask per image;
non-square images, so masks must follow CLIP's resize and centre crop. A ModifiedResNet CLIP
(the RN50 design, tiny, random) from a local checkpoint file is both the first paper's CLIP
and the one fine-tuned; a user's 2-class timm checkpoint is the first paper's model; the
LLM is a table, the generator a tiny Stable Diffusion. Any import of ``clipmend.demo`` fails.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image, ImageDraw

from clipmend.clip.loading import register_local_configs  # applies the torchvision fix before timm/open_clip
from tests.real_world import demo_blocker
from tests.tiny_diffusion import build_tiny_pipeline
from tests.workflow_utils import snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.real_path]

CLASSES = ("landbird", "waterbird")
PLACES = ("land", "water")
COLOURS = {"land": (60, 150, 50), "water": (40, 80, 200)}
PER_SPLIT = {0: 40, 1: 16, 2: 16}  # WILDS split code -> images per class
WIDTH, HEIGHT = 80, 64
METHODS = {"zeroshot", "linear_probe", "finetune_clip", "ours_ls", "ours_vs"}


def write_birds(root: Path, seg: Path, seed: int = 0) -> None:
    """Images and segmentations in the WILDS layout; train correlates class and place at 90%."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, n in PER_SPLIT.items():
        for y, name in enumerate(CLASSES):
            for i in range(n):
                place = y if (split == 0 and rng.random() < 0.9) else (i % 2 if split else 1 - y)
                filename = f"{y:03d}.{name}/{name}_{split}_{i:03d}.jpg"
                base = np.array(COLOURS[PLACES[place]], dtype=np.float32)
                image = Image.fromarray(np.clip(base + rng.normal(0, 15, (HEIGHT, WIDTH, 3)), 0, 255).astype(np.uint8))
                mask = Image.new("L", (WIDTH, HEIGHT), 0)
                cx, cy, r = int(rng.integers(28, 52)), int(rng.integers(24, 40)), int(rng.integers(10, 16))
                for canvas, fill in ((ImageDraw.Draw(image), (235, 235, 235)), (ImageDraw.Draw(mask), 255)):
                    if y == 0:
                        canvas.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
                    else:
                        canvas.polygon([(cx - r, cy + r), (cx + r, cy + r), (cx, cy - r)], fill=fill)
                (root / filename).parent.mkdir(parents=True, exist_ok=True)
                image.save(root / filename)
                (seg / filename).parent.mkdir(parents=True, exist_ok=True)
                mask.save((seg / filename).with_suffix(".png"))
                rows.append((filename, y, split, place))
    pd.DataFrame(rows, columns=["img_filename", "y", "split", "place"]).to_csv(root / "metadata.csv", index=False)


def write_weights(folder: Path) -> dict[str, Path]:
    """A user's 2-class resnet10t and a tiny ModifiedResNet CLIP (random), as checkpoint files."""
    import open_clip
    import timm

    folder.mkdir(parents=True)
    torch.manual_seed(0)
    files = {"mine": folder / "resnet10t_birds.pth", "clip": folder / "tiny_rn_clip.pt"}
    torch.save(timm.create_model("resnet10t", pretrained=False, num_classes=2).state_dict(), files["mine"])
    register_local_configs()
    torch.save(open_clip.create_model("clipmend-tiny-rn").state_dict(), files["clip"])
    return files


def birds_config(root: Path, seg: Path, files: dict[str, Path], pipeline: Path) -> dict:
    prompt = "a photo of a {class_name} {background}"
    return {
        "device": "cpu",
        "datasets": {"birds": {"kind": "waterbirds", "options": {"root": str(root), "segmentations": str(seg)}}},
        "models": {"mine": {"arch": "resnet10t", "family": "resnet", "weights": str(files["mine"]),
                            "pretrained_cfg": {"input_size": [3, HEIGHT, HEIGHT], "crop_pct": 1.0,
                                               "interpolation": "bilinear"}}},
        "features": {"batch_size": 32},
        "llm": {"backend": "table", "prompt": "What are the uncommon backgrounds that a {class_name} can appear in?",
                "options": {"table": {"landbird": ["on the water", "in the sea"],
                                      "waterbird": ["on land", "in a forest"]}}},
        "clip": {"arch": "clipmend-tiny-rn", "weights": str(files["clip"]), "prompt": prompt},
        "generator": {"backend": "diffusers", "prompt": prompt, "random_prompt": "a photo of a {class_name}",
                      "k": 1, "images_per_background": 2, "batch_size": 4, "seed": 0,
                      "options": {"model": str(pipeline), "steps": 2, "height": HEIGHT, "width": HEIGHT}},
        "head": {"epochs": 20},
        "failures": {"baseline": {"epochs": 20}},
        "spurious": {
            "clip_models": {"rn": {"arch": "clipmend-tiny-rn", "weights": str(files["clip"])}},
            "templates": ["a photo of a {class_name}.", "a picture of a {class_name}."],
            "attribute_phrases": {"land": "on land", "water": "on water"},
            "detect": {"min_detect": 2},
            "finetune": {"lr": 0.01, "epochs": 3, "batch_size": 32},
            "aiou": {"max_images": 12, "batch_size": 8},
        },
    }


@pytest.fixture(scope="module")
def birds(tmp_path_factory):
    """The world written into a fresh work directory, and `spurious` run on it."""
    workdir = tmp_path_factory.mktemp("birds")
    root, seg = workdir / "waterbirds_v1.0", workdir / "segmentations"
    write_birds(root, seg)
    config = birds_config(root, seg, write_weights(workdir / "weights"), build_tiny_pipeline(workdir / "tiny-sd"))
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(workdir, "--cores", "2", "spurious", timeout=1800, env=demo_blocker(workdir / "no-demo"))
    assert result.returncode == 0, result.stderr[-6000:]
    return workdir


def test_both_papers_are_compared_on_the_four_waterbirds_groups(birds):
    out = birds / "results/birds/spurious"
    comparison = pd.read_csv(out / "comparison.csv")
    assert set(comparison.loc[comparison["model"] == "rn", "method"]) == METHODS
    assert set(comparison.loc[comparison["model"] == "mine", "method"]) == {"original", "baseline", "random",
                                                                             "individual"}
    groups = pd.read_csv(out / "group_metrics.csv")
    fine = groups[(groups["grouping"] == "attribute") & (groups["method"] == "zeroshot")]
    assert set(zip(fine["class_name"], fine["attribute"])) == {(c, p) for c in CLASSES for p in PLACES}
    assert (fine["n"] == PER_SPLIT[2] // 2).all()
    # on Waterbirds the coarse groups are the same 4 groups: the two worst-group accuracies agree
    np.testing.assert_allclose(comparison["worst_group_accuracy"], comparison["coarse_worst_group_accuracy"])


def test_aiou_is_scored_against_the_segmentations_through_clips_crop(birds):
    out = birds / "results/birds/spurious"
    for method in METHODS:
        aiou = pd.read_csv(out / "rn" / "aiou" / f"{method}.csv")
        assert len(aiou) == 12 and aiou["aiou"].between(0, 1).all(), method
    comparison = pd.read_csv(out / "comparison.csv").set_index(["method", "model"])
    assert comparison.loc[[(m, "rn") for m in METHODS], "aiou"].between(0, 1).all()


def test_detection_runs_for_clip_and_the_users_model(birds):
    out = birds / "results/birds/spurious"
    detections = pd.read_csv(out / "detect.csv")
    assert set(detections["source"]) <= {"rn", "mine"}
    assert set(detections["attribute"]) <= set(PLACES)
    precision = pd.read_csv(out / "detect_precision.csv")
    assert set(precision["source"]) <= {"rn", "mine"}
    index = pd.read_parquet(birds / "results/birds/data/index.parquet")
    assert set(index["attribute"]) == set(PLACES) and index["mask"].notna().all()
