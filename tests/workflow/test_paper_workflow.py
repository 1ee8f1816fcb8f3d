"""A real Snakemake run of the ``paper`` target on a tiny config (2 models, 2 families, k = 2)."""

import numpy as np
import pandas as pd
import pytest

from tests.workflow_utils import snakemake, tiny_config, write_config

pytestmark = pytest.mark.workflow

LAMBDAS = [0.0, 0.5, 1.0]
KS = [1, 2]
MODELS = ("resnet10t", "mobilenetv3_050")
FAMILIES = {"resnet10t": "resnet", "mobilenetv3_050": "mobilenet"}
STRATEGIES = {"original", "baseline", "random", "individual", "collective_family", "collective_single"}


def paper_config() -> dict:
    config = tiny_config(MODELS)
    # 6 optimiser steps: OneCycleLR (training._schedule) divides by zero at exactly 5 (600 / 128)
    config["train"]["batch_size"] = config["clip"]["train"]["batch_size"] = 100
    config["paper"] = {"lambdas": LAMBDAS, "k": KS, "representatives": {}}
    return config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny run of ``paper`` (the whole loop, then the paper's analyses)."""
    workdir = tmp_path_factory.mktemp("paper")
    write_config(workdir, paper_config())
    result = snakemake(workdir, "--cores", "2", "paper")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_failure_iou_is_symmetric_with_ones_on_the_diagonal(run):
    paper = run / "results/demo/paper"
    iou = pd.read_csv(paper / "iou.csv", index_col="model")
    assert list(iou.index) == list(iou.columns) and set(iou.index) == set(MODELS)
    values = iou.to_numpy()
    np.testing.assert_allclose(values, values.T)
    np.testing.assert_allclose(np.diag(values), 1.0)
    assert ((values >= 0) & (values <= 1)).all()
    summary = pd.read_csv(paper / "iou_summary.csv")
    assert list(summary["family"]) == ["resnet", "mobilenet", "all families"]
    assert summary.set_index("family").loc["all families", "across_pairs"] == 1
    assert (paper / "iou.png").stat().st_size > 0


def head_trained_alone(run, target, source, kind):
    """Accuracy and size of each split for ``target``'s head trained on one generated set, by itself."""
    from clipmend.debugging.heads import HeadParams, read_head, train_heads
    from clipmend.evaluation.metrics import accuracy, evaluation_sets
    from clipmend.models.features import read_features

    model_dir = run / "results/demo" / target
    meta, feats = read_features(model_dir / "features.parquet")
    train, labels = (meta["split"] == "train").to_numpy(), meta["label"].to_numpy()
    own = kind == "model" and source == target
    path = (model_dir / "gen_features/individual.parquet" if own
            else model_dir / f"cross_features/{kind}-{source}.parquet")
    gen_meta, gen = read_features(path)
    settings = dict(paper_config()["head"])
    lam = settings.pop("lambda")
    init, _ = read_head(model_dir / "failure_head.pt")
    head = train_heads(feats[train], labels[train], [(gen, np.array(gen_meta["label"]))], [lam],
                       labels.max() + 1, HeadParams(**settings), init, progress=False)[0]
    pred = head.predict(feats)
    sets = evaluation_sets(meta, pd.read_parquet(model_dir / "failures.parquet"))
    return {split: (accuracy(pred[idx], labels[idx]), len(idx)) for split, idx in sets.items()}


def assert_matrix_matches_heads_trained_alone(run, matrix):
    """Every cell of the collective matrix (own set reused from debug_heads.pt, the others trained
    together) is the accuracy of that target's head trained on that one set alone, on a non-empty
    split; at most one image may flip by float rounding."""
    for (target, source, kind), cells in matrix.groupby(["target", "source", "source_kind"]):
        alone = head_trained_alone(run, target, source, kind)
        for cell in cells.itertuples():
            expected, n = alone[cell.split]
            assert n > 0 and cell.n == n and np.isfinite(cell.accuracy), (target, source, cell.split)
            assert abs(cell.accuracy - expected) * n <= 1 + 1e-9, (target, source, cell.split, cell.accuracy, expected)


def test_collective_outputs(run):
    paper = run / "results/demo/paper"
    metrics = pd.read_csv(paper / "metrics_all.csv")
    assert set(metrics["strategy"]) == STRATEGIES
    assert len(metrics) == len(metrics.drop_duplicates(["model", "strategy", "split"]))
    matrix = pd.read_csv(paper / "collective_matrix.csv")
    # every target x (2 individual sets + 2 pooled sets) x 3 splits
    assert len(matrix) == 2 * 4 * 3
    assert set(zip(matrix["source"], matrix["source_kind"])) == {
        ("resnet10t", "model"), ("mobilenetv3_050", "model"), ("resnet", "family"), ("mobilenet", "family")}
    assert_matrix_matches_heads_trained_alone(run, matrix)
    relative = pd.read_csv(paper / "relative_accuracy.csv")
    assert set(relative["strategy"]) == {"collective_family", "collective_single"}
    overlap = pd.read_csv(paper / "resolved_overlap_summary.csv")
    assert set(overlap["strategy"]) == {"collective_family", "collective_single"}
    # one-member families: type 2 is the model's own set, so it resolves all individual does
    resolved = pd.read_csv(paper / "resolved_overlap.csv")
    single = resolved[resolved["strategy"] == "collective_single"]
    assert (single["resolved_both"] == single["resolved_reference"]).all()
    for name in ("collective_matrix.png", "relative_accuracy.png"):
        assert (paper / name).stat().st_size > 0
    for family, model in (("resnet", "resnet10t"), ("mobilenet", "mobilenetv3_050")):
        pooled = pd.read_parquet(run / f"results/demo/families/{family}/assignments.parquet")
        assert set(pooled["model"]) == {model} and set(pooled["part"]) == {"debug_seed"}
        # a target's own set is reused, never re-extracted among its cross features
        cross = {p.name for p in (run / f"results/demo/{model}/cross_features").glob("*.parquet")}
        other = next(m for m in MODELS if m != model)
        assert cross == {f"model-{other}.parquet", "family-resnet.parquet", "family-mobilenet.parquet"}


def test_sweeps_have_every_value(run):
    paper = run / "results/demo/paper"
    for sweep, values in (("lambda", LAMBDAS), ("k", KS)):
        rows = pd.read_csv(paper / f"{sweep}_sweep.csv")
        assert set(rows["param"]) == {sweep}
        for model in MODELS:
            mine = rows[rows["model"] == model]
            assert sorted(set(mine["value"])) == [float(v) for v in values], (sweep, model)
            assert set(mine["split"]) == {"test", "debug_seed", "debug_heldout"}
            assert set(mine["family"]) == {FAMILIES[model]}
        assert (paper / f"{sweep}_sweep.png").stat().st_size > 0


def test_tables_and_figures(run):
    paper = run / "results/demo/paper"
    for stem in ("table1", "table2", "table3", "experiments"):
        for ext in ("csv", "md", "tex"):
            assert (paper / f"{stem}.{ext}").stat().st_size > 0, f"{stem}.{ext}"
    table1 = pd.read_csv(paper / "table1.csv")
    assert list(table1.columns) == ["Class name", "Uncommon backgrounds"] and len(table1) == 6  # the demo's classes
    table2 = pd.read_csv(paper / "table2.csv")
    assert list(table2.columns[:3]) == ["Model category", "Model name", "Accuracy before debugging: Test"]
    for title in ("Accuracy of Individual Debugging (ours)", "Accuracy of Random debugging"):
        assert {f"{title}: {s}" for s in ("Test", "seed", "heldout")} <= set(table2.columns)
    table3 = pd.read_csv(paper / "table3.csv")
    for title in ("Accuracy of Collective Debugging-type 1 (ours)",
                  "Accuracy of Collective Debugging-type 2 (ours)"):
        assert {f"{title}: {s}" for s in ("Test", "seed", "heldout")} <= set(table3.columns)
    assert set(table2["Model name"]) == set(table3["Model name"]) == set(MODELS)
    assert "\\begin{table}" in (paper / "table3.tex").read_text()
    experiments = pd.read_csv(paper / "experiments.csv")
    assert set(experiments["strategy"]) == STRATEGIES
    assert {"lambda", "k", "test", "debug_heldout"} <= set(experiments.columns)
    for model in MODELS:
        assert (paper / "gallery" / f"{model}.png").stat().st_size > 0
    for source in ("model-resnet10t", "model-mobilenetv3_050", "family-resnet", "family-mobilenet"):
        assert (paper / "generated" / f"{source}.png").stat().st_size > 0


def test_redetection_before_and_after_the_fix(run):
    """δ of every class x attribute pair with a model's original head and its seeded debugged heads."""
    paper = run / "results/demo/paper"
    table = pd.read_csv(paper / "redetect.csv")
    assert set(table["model"]) == set(MODELS) and set(table["strategy"]) == {"individual", "random"}
    seeds = paper_config()["spurious"]["seeds"]
    assert (table["n_seeds"] == len(seeds)).all()
    for when in ("delta_before", "delta_after"):
        assert (table[f"{when}_low"] <= table[f"{when}_high"]).all()
    assert table["targeted"].any() and set(table["verdict"]) <= {"shrank", "unchanged", "grew"}
    per_class = table[table["strategy"] == "individual"].groupby(["model", "class_name"])["targeted"].sum()
    assert (per_class <= paper_config()["generator"]["k"]).all()  # a class's targets are its k backgrounds
    assert (paper / "redetect.png").stat().st_size > 0


def test_export_writes_verified_sets_that_load(run):
    """``snakemake export``: each model's sets as class folders, metadata.csv and SHA256SUMS."""
    import subprocess

    result = snakemake(run, "--cores", "1", "export")
    assert result.returncode == 0, result.stderr[-4000:]
    for model in MODELS:
        for name in ("individual", "random"):
            tree = run / "results/demo/export" / model / name
            check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=tree, capture_output=True)
            assert check.returncode == 0, check.stdout + check.stderr
            metadata = pd.read_csv(tree / "metadata.csv")
            manifest = pd.read_parquet(run / "results/demo" / model / "images" / f"{name}.parquet")
            assert sorted(metadata["id"]) == sorted(manifest["id"])
            assert all((tree / f).is_file() for f in metadata["file_name"])


def test_report_builds(run):
    result = snakemake(run, "--report", str(run / "report.html"), "paper")
    assert result.returncode == 0, result.stderr[-4000:]
    html = (run / "report.html").read_text()
    for category in ("Failure IoU", "Collective debugging", "Sweeps of", "Tables", "Generated images"):
        assert category in html, category


def test_new_lambdas_rerun_the_lambda_sweep_only(run):
    config = paper_config()
    config["paper"]["lambdas"] = [0.0, 2.0]
    write_config(run, config)
    # code changes (other edits while the tests run) must not count here, only params
    result = snakemake(run, "-n", "paper", "--rerun-triggers", "mtime", "params")
    write_config(run, paper_config())
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout + result.stderr
    assert "lambda_sweep" in out and "collect_sweep" in out
    for rule in ("k_sweep", "cross_features", "collective_heads", "generate_collective",
                 "extract_features", "debug_heads"):
        assert f"rule {rule}:" not in out, rule


def test_k_beyond_generated_sets_is_refused(run):
    config = paper_config()
    config["paper"]["k"] = [1, 3]  # the tiny config generates k = 2 backgrounds per class
    write_config(run, config)
    result = snakemake(run, "-n", "paper")
    write_config(run, paper_config())
    assert result.returncode != 0
    assert "generator.k" in result.stderr + result.stdout


def test_turning_the_filter_on_rebuilds_paper_on_the_kept_images(run, tmp_path):
    """A user's filter.enabled: true after a run: `paper` completes, and every head of the first
    paper, collective debugging's included, trains on the images the filter kept.
    Broken changes caught: k_sweep reading the unfiltered manifest beside filtered features (it
    failed), cross_features or the families' sets left unfiltered."""
    import shutil

    from clipmend.models.features import read_features

    work = tmp_path / "filtered"
    shutil.copytree(run, work, symlinks=True, ignore=shutil.ignore_patterns("locks"))
    config = paper_config()
    # a class threshold that drops about a fifth of the tiny CLIP's images (its scores are near uniform)
    config["filter"] = {"enabled": True, "thresholds": {"class": 0.18, "background": 0.2}}
    write_config(work, config)
    result = snakemake(work, "--cores", "2", "paper")
    assert result.returncode == 0, result.stderr[-4000:]
    results = work / "results/demo"

    def ids(path):
        return set(read_features(path)[0]["id"])

    dropped = 0
    for model in MODELS:
        scored = pd.read_parquet(results / model / "images/filtered/individual.parquet")
        kept = set(scored.loc[scored["kept"], "id"])
        dropped += int((~scored["kept"]).sum())
        assert ids(results / model / "gen_features/individual.parquet") == kept
        for family in set(FAMILIES.values()):
            family_set = pd.read_parquet(results / f"families/{family}/images/filtered/collective.parquet")
            assert ids(results / model / f"cross_features/family-{family}.parquet") == \
                set(family_set.loc[family_set["kept"], "id"])
        other = next(m for m in MODELS if m != model)
        other_set = pd.read_parquet(results / other / "images/filtered/individual.parquet")
        assert ids(results / model / f"cross_features/model-{other}.parquet") == \
            set(other_set.loc[other_set["kept"], "id"])
    assert dropped > 0
    log = (work / "logs/demo/score_collective_images.log").read_text()
    assert "scored before" in log
