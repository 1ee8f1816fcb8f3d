"""Generation in shard jobs (cluster.max_job_hours): the shard count from the cost model, and
shards merged into the manifests an unsharded job writes, byte for byte."""

from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from clipmend import cost
from clipmend.config import resolve_models
from clipmend.generation.registry import GENERATORS, register_generator
from clipmend.generation.steps import generate_collective, generate_images
from clipmend.io import write_json, write_parquet

REPO = Path(__file__).resolve().parents[2]
CLASSES = [f"class{i}" for i in range(10)]


def load(name: str) -> dict:
    """A shipped config with the schema's defaults, as the workflow sees it."""
    from snakemake.utils import validate

    config = resolve_models(yaml.safe_load((REPO / "config" / name).read_text()))
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"), set_default=True)
    return config


def test_imagenet_generation_is_split_into_jobs_within_the_bound():
    config = load("imagenet.yaml")
    bound = cost.max_job_hours(config)
    assert bound == 12
    counts = {}
    for rule in ("generate_images", "generate_collective"):
        counts[rule] = shards = cost.generation_shards(config, "imagenet", rule)
        assert shards > 1  # one job would exceed the bound
        hours = cost.job_hours(f"{rule}_shard", config, "imagenet")
        assert hours * cost.SHARD_RUNTIME_MARGIN <= bound  # the declared runtime fits too
        assert cost.job_hours(rule, config, "imagenet") == 0  # it only merges
    # every other modelled job, for every model, fits the bound unsharded
    rules = ["extract_features", "generated_features", "cross_features", "collect_failures",
             "assign_backgrounds", "clip_debug_features", *cost.HEAD_RULES]
    worst = max(cost.job_hours(rule, config, "imagenet", model) for rule in rules for model in config["models"])
    assert 0 < worst <= bound
    # a tighter bound: more shards, each within it
    config["cluster"]["max_job_hours"] = 4
    shards = cost.generation_shards(config, "imagenet")
    assert shards > counts["generate_images"]
    assert cost.job_hours("generate_images_shard", config, "imagenet") * 1.5 <= 4


def test_a_models_edit_set_is_split_into_jobs_within_the_bound():
    """Broken change caught: edit_images one job per model whatever its hours (an SD img2img set:
    on ImageNet more than the shipped 12-hour bound allows)."""
    config = load("imagenet.yaml")
    bound = cost.max_job_hours(config)
    shards = cost.generation_shards(config, "imagenet", "edit_images")
    assert shards > 1
    hours = cost.job_hours("edit_images_shard", config, "imagenet")
    assert hours * cost.SHARD_RUNTIME_MARGIN <= bound < hours * shards * cost.SHARD_RUNTIME_MARGIN
    assert cost.job_hours("edit_images", config, "imagenet") == 0  # it only merges
    # img2img runs strength x the steps: a weaker edit needs fewer shards
    config["generator"]["edit"] = {"strength": 0.25}
    assert cost.generation_shards(config, "imagenet", "edit_images") < shards


def test_the_demo_generates_in_one_job_and_shards_never_outnumber_classes():
    config = load("config.yaml")
    assert cost.generation_shards(config, "demo") == 1
    config["cluster"]["max_job_hours"] = 1e-6
    classes = len(config["datasets"]["demo"]["options"]["classes"])
    assert cost.generation_shards(config, "demo") == classes  # one per class at most


def test_shards_are_contiguous_class_ranges_covering_every_class_once():
    for classes, shards in ((1000, 5), (10, 4), (10, 10), (7, 3)):
        labels = [label for i in range(shards) for label in cost.shard_labels(classes, i, shards)]
        assert labels == list(range(classes))
    with pytest.raises(ValueError, match="shard 4 is not one of 0..3"):
        cost.shard_labels(10, 4, 4)


@pytest.fixture
def blanking_backend():
    """A backend whose safety checker blanks every request with seed % 5 == 0 (retried, some dropped)."""

    @register_generator("test-blanking")
    class Blanking:
        name = "test-blanking"

        def __init__(self, batch_size=8, device=None):
            pass

        def identity(self):
            return {"kind": "test-blanking", "steps": 3, "guidance": 7.5}

        def generate(self, requests):
            for r in requests:
                yield None if r.seed % 5 == 0 else Image.new("RGB", (4, 4), (r.seed % 251, r.label, 9))

    yield "test-blanking"
    GENERATORS.pop("test-blanking")


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    rows = [{"id": f"{label}-{b}-{i}", "label": label, "background": f"on bg{b}", "part": "debug_seed"}
            for label in range(10) if label != 6  # class 6: no failures, nothing generated
            for b in range(3) for i in range(b + 1)]
    write_parquet(pd.DataFrame(rows), tmp_path / "assignments.parquet")
    write_json(CLASSES, tmp_path / "classes.json")
    return tmp_path / "assignments.parquet", tmp_path / "classes.json"


def test_sharded_generation_merges_into_the_unsharded_manifests_byte_for_byte(tmp_path, blanking_backend,
                                                                            monkeypatch):
    assignments, classes = _inputs(tmp_path)
    generator = {"backend": blanking_backend, "prompt": "a {class_name} {background}",
                 "random_prompt": "a {class_name}", "k": 2, "images_per_background": 6, "seed": 0}
    kinds = ("individual", "random")
    for run in ("whole", "sharded"):  # each with its own store, at the same relative path
        (tmp_path / run).mkdir()
        monkeypatch.chdir(tmp_path / run)
        if run == "whole":
            generate_images(assignments, classes, "individual.parquet", "random.parquet", generator, "store")
            continue
        parts = {kind: [f"shard{i}/{kind}.parquet" for i in range(4)] for kind in kinds}
        for i in range(4):
            generate_images(assignments, classes, parts["individual"][i], parts["random"][i], generator,
                            "store", shard=(i, 4))
        generate_images(assignments, classes, "individual.parquet", "random.parquet", generator, "unused",
                        individual_parts=parts["individual"], random_parts=parts["random"])
    manifest, random = (pd.read_parquet(tmp_path / f"whole/{kind}.parquet") for kind in kinds)
    safety = [m.attrs["safety"] for m in (manifest, random)]
    assert min(s["regenerated"] for s in safety) > 0 and sum(s["dropped"] for s in safety) > 0  # blanked images
    assert len(manifest) > 50
    assert sorted(manifest["label"].unique()) == [0, 1, 2, 3, 4, 5, 7, 8, 9]
    for kind in kinds:
        assert (tmp_path / f"sharded/{kind}.parquet").read_bytes() == (tmp_path / f"whole/{kind}.parquet").read_bytes()
    # the same images (and blank markers) in both stores
    stores = [{p.relative_to(tmp_path / run / "store"): p.read_bytes() for p in (tmp_path / run / "store").rglob("*.*")}
              for run in ("whole", "sharded")]
    assert stores[0] == stores[1] and len(stores[0]) > 100
    # shards out of order make a different manifest (the merge keeps shard order)
    swapped = [parts["individual"][1], parts["individual"][0], *parts["individual"][2:]]
    generate_collective(assignments, classes, "swapped.parquet", "f", generator, "unused", parts=swapped)
    assert not pd.read_parquet("swapped.parquet").equals(manifest)
