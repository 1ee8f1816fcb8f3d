"""generator.mode as a user turns it on: which set debug_heads trains on, and the paper target's edit set."""

import re

import pytest
import yaml

from tests.workflow.test_configs import REPO, job_counts
from tests.workflow_utils import snakemake

pytestmark = pytest.mark.workflow


def dry(tmp_path, target, **generator):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["generator"].update(generator)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n", target, "--quiet", "rules", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return job_counts(result.stdout + result.stderr)


def test_mode_edit_trains_debug_heads_on_the_edit_set(tmp_path):
    """Broken change caught: debug_heads reading gen_features/individual.parquet whatever the mode."""
    assert "edit_images" not in dry(tmp_path, "all_models")  # text, the paper's, by default
    counts = dry(tmp_path, "all_models", mode="edit")
    assert counts["edit_images"] == counts["edit_features"] == counts["debug_heads"] == 8


def test_the_paper_target_builds_the_edit_set_in_text_mode(tmp_path):
    counts = dry(tmp_path, "paper")
    assert counts["edit_images"] == counts["edit_features"] == counts["generation_variant_seeds"] == 8
    # the filter's CLIP scores every distinct image once for all models; one job applies the thresholds
    assert counts["score_generated_images"] == counts["filter_images"] == 1


def test_with_the_filter_on_collective_debugging_trains_on_the_kept_images_too(tmp_path):
    """Broken change caught: cross_features reading the families' and other models' sets unfiltered."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["filter"]["enabled"] = True
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n", "paper", "--quiet", "rules", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["score_collective_images"] == counts["filter_collective"] == 1
    job = snakemake(tmp_path, "-n", "results/demo/resnet18/cross_features", timeout=300)
    inputs = re.search(r"rule cross_features:\n\s+input: (.*)", job.stdout).group(1).split(", ")
    manifests = [i for i in inputs if "/images/" in i]
    assert manifests and all("/images/filtered/" in i for i in manifests), manifests
    assert any("families/" in i for i in manifests) and any("/vit_d4/" in i for i in manifests)
    config["filter"]["enabled"] = False
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n", "paper", "--quiet", "rules", timeout=300)
    assert "score_collective_images" not in job_counts(result.stdout + result.stderr)


def test_an_edit_set_over_the_job_bound_is_made_in_shard_jobs(tmp_path):
    """Broken change caught: edit_images without shard jobs (one img2img job per model, however long)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["cluster"] = {"max_job_hours": 1e-9}  # every set over it: one shard per class
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n", "paper", "--quiet", "rules", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    classes = len(config["datasets"]["demo"]["options"]["classes"])
    assert counts["edit_images_shard"] == counts["generate_images_shard"] == 8 * classes
    assert counts["edit_images"] == 8  # each merges its model's shards


def test_a_bad_mode_fails_at_validation_naming_it(tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["generator"]["mode"] = "img2img"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n", "all_models", timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "generator.mode" in output and "img2img" in output, output[-2000:]


def test_paper_generation_variants_picks_what_paper_builds(tmp_path):
    """Broken change caught: the variants' sets built whatever paper.generation_variants says (ImageNet sets [])."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["paper"]["generation_variants"] = ["text", "img2img"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n", "paper", timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "generation_variants" in output and "img2img" in output, output[-2000:]
    config["paper"]["generation_variants"] = []
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n", "paper", "--quiet", "rules", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    assert not {"edit_images", "score_generated_images", "filter_images", "generation_variant_seeds",
                "generation_variants"} & set(counts)
    assert counts["debug_heads"] == 8
