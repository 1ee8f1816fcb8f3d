"""The real path, end to end: `all_models` then `paper` on a non-demo data set, real backends.

The world of ``tests/real_world.py``: an ImageFolder of JPEG/PNG files with one corrupt
file, a user's 3-class timm checkpoint, a MoCo v2 checkpoint, open_clip ViT-B-32 from a
local file (as a model and as the CLIP), SmolLM2 behind llama.cpp's OpenAI-compatible
server, and a tiny Stable Diffusion pipeline. Slow (minutes): marked ``real_path``.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from clipmend.evaluation.metrics import COLUMNS
from tests.integration.test_llm_llamacpp import llamacpp_server  # noqa: F401  (a fixture)
from tests.real_world import CLASSES, MODELS, PER_SPLIT, build_real_world, demo_blocker
from tests.workflow_utils import snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.real_path]

PER_MODEL = [
    "features.parquet", "own_head.pt", "failures.parquet", "failure_head.pt",
    "assignments.parquet", "images/individual.parquet", "images/random.parquet",
    "gen_features/individual.parquet", "gen_features/random.parquet", "debug_heads.pt", "metrics.csv",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory, llamacpp_server):  # noqa: F811
    """The real world written into a fresh work directory, and `all_models` run on it."""
    workdir = tmp_path_factory.mktemp("real")
    build_real_world(workdir, llamacpp_server)
    result = run(workdir, "all_models")
    assert result.returncode == 0, result.stderr[-6000:]
    return workdir


def run(workdir, target):
    """Snakemake ``target`` in ``workdir``, with every import of ``clipmend.demo`` an error."""
    env = demo_blocker(workdir / "no-demo")
    return snakemake(workdir, "--cores", "2", target, timeout=1800, env=env)


def test_all_models_builds_every_output_of_every_model(world):
    results = world / "results/shapes"
    index = pd.read_parquet(results / "data/index.parquet")
    assert json.loads((results / "data/classes.json").read_text()) == list(CLASSES)
    assert "background" not in index.columns
    assert len(index) == sum(PER_SPLIT.values()) * len(CLASSES)  # the corrupt file is skipped
    assert "corrupt.jpg" in (world / "logs/shapes/prepare_data.log").read_text()
    for model in MODELS:
        missing = [name for name in PER_MODEL if not (results / model / name).is_file()]
        assert not missing, f"{model}: {missing}"
        scored = pd.read_parquet(results / model / "images/filtered/individual.parquet")
        assert scored["score_class"].between(0, 1).all() and scored["true_class"].isna().all()
        kept = pd.read_parquet(results / model / "gen_features/individual.parquet", columns=["id"])
        assert set(kept["id"]) == set(scored.loc[scored["kept"], "id"])  # the filter.enabled run trains on these
        manifest = pd.read_parquet(results / model / "images/individual.parquet")
        assert len(manifest) and manifest["image"].map(lambda p: (world / p).is_file()).all()
    metrics = pd.read_csv(results / "metrics.csv")
    assert list(metrics.columns) == COLUMNS
    assert set(metrics["model"]) == set(MODELS)
    assert set(metrics["strategy"]) == {"original", "baseline", "random", "individual"}
    backgrounds = json.loads((results / "backgrounds.json").read_text())
    assert backgrounds["backend"] == "openai" and set(backgrounds["classes"]) == set(CLASSES)
    assert all(entry["backgrounds"] for entry in backgrounds["classes"].values())


def test_own_head_of_the_3_class_checkpoint_defines_its_failures(world):
    heads = {m: torch.load(world / f"results/shapes/{m}/failure_head.pt") for m in MODELS}
    assert {m: h["source"] for m, h in heads.items()} == {"mine": "own", "moco": "train",
                                                          "clip_b32": "train"}
    stored = torch.load(world / "weights/resnet10t_3class.pth")
    assert torch.allclose(torch.as_tensor(heads["mine"]["weight"]), stored["fc.weight"])


def test_assignment_accuracy_is_skipped_without_ground_truth(world):
    table = pd.read_csv(world / "results/shapes/clip_assignment_accuracy.csv")
    assert table.empty and list(table.columns) == ["model", "part", "accuracy", "n"]
    assert "no true backgrounds" in (world / "logs/shapes/assignment_accuracy.log").read_text()


def test_paper_builds_every_table_and_figure(world):
    result = run(world, "paper")
    assert result.returncode == 0, result.stderr[-6000:]
    paper = world / "results/shapes/paper"
    expected = ["iou.csv", "collective_matrix.csv", "metrics_all.csv", "relative_accuracy.csv",
                "resolved_overlap.csv", "lambda_sweep.csv", "k_sweep.csv", "table1.md",
                "table2.md", "table3.md", "experiments.md", "redetect.csv", "redetect.png"]
    expected += [f"gallery/{m}.png" for m in MODELS]
    expected += [f"generated/model-{m}.png" for m in MODELS]
    expected += ["generated/family-resnet.png", "generated/family-clip.png"]
    missing = [name for name in expected if not (paper / name).is_file()]
    assert not missing, missing
    assert set(pd.read_csv(paper / "metrics_all.csv")["model"]) >= set(MODELS)
    # the filter on diffusers images: scored, and a diffusion model's true content unknown (no precision)
    quality = pd.read_csv(paper / "filter_quality.csv")
    assert quality["precision"].isna().all() and quality["n_images"].gt(0).all()
    variants = pd.read_csv(paper / "generation_variants.csv")
    assert list(variants.columns) == ["variant", "metric", "mean", "ci_low", "ci_high", "n_seeds"]
    assert {"text", "text+filter"} <= set(variants["variant"])
    # collective debugging trains on the kept images too: a family's pooled set is scored and filtered
    results = world / "results/shapes"
    for family in ("resnet", "clip"):
        scored = pd.read_parquet(results / f"families/{family}/images/filtered/collective.parquet")
        assert scored["score_class"].between(0, 1).all()
        crossed = pd.read_parquet(results / f"mine/cross_features/family-{family}.parquet", columns=["id"])
        assert set(crossed["id"]) == set(scored.loc[scored["kept"], "id"])


def test_paper_edits_the_seed_failures_with_diffusers_img2img(world):
    """The edit set on the real path (an ImageFolder has no masks: img2img), after `paper`."""
    test_paper_builds_every_table_and_figure(world)  # builds it if that test did not run first
    for model in MODELS:
        results = world / "results/shapes" / model
        edit = pd.read_parquet(results / "images/edit.parquet")
        failures = pd.read_parquet(results / "failures.parquet")
        seeds = set(failures.loc[failures["part"] == "debug_seed", "id"])
        assert len(edit) and set(edit["source"]) <= seeds and edit["gen_edit"].eq("img2img").all()
        assert edit["image"].map(lambda p: (world / p).is_file()).all()
    assert "edit" in set(pd.read_csv(world / "results/shapes/paper/generation_variants.csv")["variant"])
