"""A real Snakemake run of the ``spurious`` target (the second paper) on a tiny config."""

import pandas as pd
import pytest
import torch

from tests.workflow_utils import snakemake, tiny_config, write_config

pytestmark = pytest.mark.workflow

MODELS = ("resnet10t", "mobilenetv3_050")
CLIP_METHODS = ["zeroshot", "linear_probe", "finetune_clip", "ours_ls", "ours_vs"]
FIRST_PAPER = ["original", "baseline", "random", "individual"]


def spurious_config() -> dict:
    config = tiny_config(MODELS)
    config["train"]["batch_size"] = config["clip"]["train"]["batch_size"] = 100
    config["spurious"]["finetune"]["epochs"] = 3
    config["spurious"]["detect"]["min_detect"] = 2
    config["spurious"]["aiou"]["max_images"] = 20
    config["spurious"]["seeds"] = [0, 1]
    return config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny run of ``spurious``: the first paper's loop, then the second paper on the same data."""
    workdir = tmp_path_factory.mktemp("spurious")
    write_config(workdir, spurious_config())
    result = snakemake(workdir, "--cores", "2", "spurious")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_detections_of_every_source(run):
    out = run / "results/demo/spurious"
    for source in ("clip", *MODELS):
        found = pd.read_csv(out / "detect" / f"{source}.csv")
        assert {"source", "class_name", "attribute", "rank", "delta", "mi", "n_with", "n_without"} <= set(found)
        assert (found["source"] == source).all()
        assert (found["n_with"] >= 2).all() and (found["mi"] > 0).all()
    merged = pd.read_csv(out / "detect.csv")
    assert set(merged["source"]) <= {"clip", *MODELS}
    precision = pd.read_csv(out / "detect_precision.csv")
    assert list(precision.columns) == ["source", "precision_at_1", "classes"]
    assert precision["precision_at_1"].between(0, 1).all()
    assert (out / "delta_heatmap.png").stat().st_size > 0


def test_comparison_puts_both_papers_on_the_same_groups(run):
    out = run / "results/demo/spurious"
    comparison = pd.read_csv(out / "comparison.csv")
    methods = comparison.groupby("method")["model"].apply(set).to_dict()
    assert {m: methods[m] for m in CLIP_METHODS} == {m: {"clip"} for m in CLIP_METHODS}
    assert {m: methods[m] for m in FIRST_PAPER} == {m: set(MODELS) for m in FIRST_PAPER}
    for col in ("worst_group_accuracy", "average_accuracy", "adjusted_accuracy", "coarse_worst_group_accuracy"):
        assert comparison[col].between(0, 1).all(), col
    assert (comparison["worst_group_accuracy"] <= comparison["average_accuracy"]).all()
    clip = comparison[comparison["model"] == "clip"]
    assert clip["aiou"].between(0, 1).all()  # the demo records object masks
    groups = pd.read_csv(out / "group_metrics.csv")
    assert set(groups["grouping"]) == {"attribute", "coarse"}
    coarse = groups[groups["grouping"] == "coarse"]
    assert set(coarse["attribute"]) == {"common", "uncommon"}
    # every method is scored on the same test groups, with the same images in each
    sizes = groups[groups["grouping"] == "attribute"].groupby(["method", "model"])["n"].apply(tuple)
    assert sizes.nunique() == 1
    for name in ("comparison.md", "comparison.tex", "wga.png", "group_accuracy.png"):
        assert (out / name).stat().st_size > 0


def test_intervals_over_seeds_and_the_paired_differences(run):
    out = run / "results/demo/spurious"
    seeds = pd.read_csv(out / "comparison_seeds.csv")
    assert list(seeds.columns) == ["method", "model", "metric", "mean", "ci_low", "ci_high", "n_seeds"]
    assert ((seeds["ci_low"] <= seeds["mean"] + 1e-12) & (seeds["mean"] <= seeds["ci_high"] + 1e-12)).all()
    n = seeds.groupby("method")["n_seeds"].max()
    assert (n[["finetune_clip", "ours_ls", "ours_vs", "random", "individual"]] == 2).all()
    assert (n[["zeroshot", "original", "baseline"]] == 1).all()
    assert set(seeds.loc[seeds["method"] == "individual", "model"]) == {*MODELS, "all"}
    assert "heldout_gain" in set(seeds.loc[seeds["method"] == "individual", "metric"])
    paired = pd.read_csv(out / "paired.csv")
    pairs = set(zip(paired["method_a"], paired["method_b"]))
    assert pairs == {("ours_ls", "finetune_clip"), ("ours_vs", "finetune_clip"), ("individual", "random")}
    assert {"heldout_gain", "worst_group_accuracy"} <= set(paired.loc[paired["method_a"] == "individual", "metric"])
    # fine-tuning reads the detections of its source (detect -> fine-tune)
    log = (run / "logs/demo/spurious/clip/train_ours_ls.log").read_text()
    assert "spurious attributes per class from the detections" in log


def test_finetuning_selects_by_validation_worst_group_accuracy(run):
    methods = run / "results/demo/spurious/clip/methods"
    for method in ("finetune_clip", "ours_ls", "ours_vs"):
        history = pd.read_csv(methods / f"{method}_history.csv")
        assert list(history["seed"]) == [0, 0, 0, 1, 1, 1]
        history = history[history["seed"] == 0]
        assert list(history["epoch"]) == [1, 2, 3]
        chosen = history[history["selected"]]
        assert len(chosen) == 1
        assert chosen["val_worst_group_accuracy"].iloc[0] == history["val_worst_group_accuracy"].max()
        saved = torch.load(methods / f"{method}.pt", weights_only=False)
        assert saved["method"] == method and "projections" in saved
    ls = pd.read_csv(methods / "ours_ls_history.csv")
    assert {"clip", "vc", "lc", "ls"} <= set(ls.columns) and "vs" not in ls.columns


def test_changing_a_loss_weight_reruns_only_the_methods_using_it(run):
    config = spurious_config()
    config["spurious"]["finetune"]["loss_weights"] = {"ls": 2.0}
    write_config(run, config)
    result = snakemake(run, "-n", "spurious", "--rerun-triggers", "mtime", "params")
    write_config(run, spurious_config())
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout + result.stderr
    assert "rule spurious_compare:" in out
    trained = {line.split("method=")[1].split(",")[0].strip() for line in out.splitlines() if "method=" in line}
    assert trained == {"ours_ls"}, trained
    for rule in ("spurious_clip_features", "spurious_detect", "extract_features", "debug_heads"):
        assert f"rule {rule}:" not in out, rule
