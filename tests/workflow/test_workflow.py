"""Real Snakemake runs of the whole loop on a tiny config."""

import copy
import shutil

import pandas as pd
import pytest
import yaml

from clipmend.evaluation.metrics import COLUMNS
from tests.workflow_utils import REPO, snakemake, tiny_config, write_config

pytestmark = pytest.mark.workflow

PER_MODEL = ["features.parquet", "failures.parquet", "assignments.parquet", "debug_heads.pt", "metrics.csv",
             "images/individual.parquet", "images/random.parquet"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One full tiny run, shared by the tests below."""
    workdir = tmp_path_factory.mktemp("wf")
    write_config(workdir, tiny_config())
    result = snakemake(workdir, "--cores", "2", "all_models")
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def test_dry_run_of_default_config_builds_whole_dag(tmp_path):
    import subprocess

    from tests.workflow_utils import SNAKEMAKE

    out = subprocess.run([str(SNAKEMAKE), "-n", "all_models", "--quiet", "rules", "-s", str(REPO / "Snakefile"),
                          "--directory", str(tmp_path), "--configfile", str(REPO / "config/config.yaml")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "debug_heads" in out.stdout + out.stderr and "generate_images" in out.stdout + out.stderr


def assert_failures_are_the_own_classifiers_mistakes(run, model, metrics):
    """failures.parquet holds exactly the debug images whose recorded float32 prediction is wrong
    (some in each part), and the original head scores 0 on each part, counted over all of them."""
    features = pd.read_parquet(run / "results/demo" / model / "features.parquet",
                               columns=["id", "split", "label", "pred"])
    debug = features[features["split"] == "val"]
    wrong = set(debug.loc[debug["pred"] != debug["label"], "id"])
    failures = pd.read_parquet(run / "results/demo" / model / "failures.parquet")
    assert wrong and set(failures["id"]) == wrong and len(failures) == len(wrong), model
    original = metrics[(metrics["model"] == model) & (metrics["strategy"] == "original")].set_index("split")
    for part in ("debug_seed", "debug_heldout"):
        n = int((failures["part"] == part).sum())
        assert n > 0 and original.loc[part, "n"] == n, (model, part, n)
        assert original.loc[part, "accuracy"] == 0, (model, part)


def test_full_run_builds_every_output(run):
    for model in ("resnet10t", "mobilenetv3_050"):
        for name in PER_MODEL:
            assert (run / "results/demo" / model / name).exists(), name
    metrics = pd.read_csv(run / "results/demo/metrics.csv")
    assert list(metrics.columns) == COLUMNS
    assert set(metrics["strategy"]) == {"original", "baseline", "random", "individual"}
    assert set(metrics["split"]) == {"test", "debug_seed", "debug_heldout"}
    for model in ("resnet10t", "mobilenetv3_050"):
        assert_failures_are_the_own_classifiers_mistakes(run, model, metrics)
    acc = pd.read_csv(run / "results/demo/clip_assignment_accuracy.csv")
    assert set(acc["model"]) == {"resnet10t", "mobilenetv3_050"}
    backgrounds = (run / "results/demo/backgrounds.json").read_text()
    assert "uncommon backgrounds" in backgrounds


def test_prompt_change_reruns_only_what_depends_on_it(run):
    features = run / "results/demo/resnet10t/features.parquet"
    failures = run / "results/demo/resnet10t/failures.parquet"
    backgrounds = run / "results/demo/backgrounds.json"
    before = {p: p.stat().st_mtime_ns for p in (features, failures, backgrounds)}
    metrics_before = (run / "results/demo/metrics.csv").read_text()
    config = tiny_config()
    config["llm"]["prompt"] = "Name unusual places where a {class_name} might be photographed."
    write_config(run, config)
    result = snakemake(run, "--cores", "2", "all_models")
    assert result.returncode == 0, result.stderr[-4000:]
    assert features.stat().st_mtime_ns == before[features]
    assert failures.stat().st_mtime_ns == before[failures]
    assert backgrounds.stat().st_mtime_ns != before[backgrounds]
    assert "unusual places" in backgrounds.read_text()
    for rule in ("propose_backgrounds", "assign_backgrounds", "generate_images", "debug_heads"):
        assert f"rule {rule}:" in result.stderr, rule
    for rule in ("extract_features", "collect_failures", "train_backbone", "train_clip"):
        assert f"rule {rule}:" not in result.stderr, rule
    # the table backend answers the same for any prompt, and every step is deterministic
    assert (run / "results/demo/metrics.csv").read_text() == metrics_before


def test_lambda_change_reruns_heads_only(run):
    original = yaml.safe_load((run / "config.yaml").read_text())  # the config of the last full run
    config = copy.deepcopy(original)
    config["head"]["lambda"] = 2.0
    write_config(run, config)
    result = snakemake(run, "-n", "all_models")
    write_config(run, original)  # a dry run: the results are still those of the original config
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout + result.stderr
    assert "debug_heads" in out
    for rule in ("generate_images", "assign_backgrounds", "extract_features"):
        assert rule not in out, rule


def test_lint_is_clean():
    import subprocess

    from tests.workflow_utils import SNAKEMAKE

    out = subprocess.run([str(SNAKEMAKE), "--lint"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Lints for" not in out.stdout + out.stderr, out.stdout + out.stderr


def test_two_runs_from_empty_results_give_identical_metrics(run, tmp_path):
    """Determinism: a second run in a fresh directory reproduces metrics.csv byte for byte."""
    config = tiny_config()
    config["llm"]["prompt"] = "Name unusual places where a {class_name} might be photographed."
    write_config(tmp_path, config)
    result = snakemake(tmp_path, "--cores", "2", "all_models")
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "results/demo/metrics.csv").read_text() == (run / "results/demo/metrics.csv").read_text()


def test_run_settings_rerun_nothing_and_the_generation_batch_size_regenerates(run):
    """Device, determinism, feature batch size and memory budgets say how, not what: a finished
    run stays finished. The generation batch size is a param (images depend on it)."""
    original = yaml.safe_load((run / "config.yaml").read_text())  # the config of the last full run
    config = copy.deepcopy(original)
    config.update(device="cpu", deterministic=True, memory={"device_gb": 3, "host_gb": 2})
    config["features"].update(batch_size=7, dtype="bfloat16", channels_last=True, compile=True)
    config["generator"].update(attention="eager", channels_last=True, compile=True)
    write_config(run, config)
    settings = snakemake(run, "-n", "all_models")
    config["generator"]["batch_size"] = 3
    write_config(run, config)
    generation = snakemake(run, "-n", "all_models")
    write_config(run, original)
    assert settings.returncode == 0, settings.stderr[-4000:]
    assert "Nothing to be done" in settings.stdout + settings.stderr, settings.stdout + settings.stderr
    assert generation.returncode == 0, generation.stderr[-4000:]
    assert "generate_images" in generation.stdout + generation.stderr


def test_config_override_on_the_command_line_reruns_heads_only(run):
    """``--config head='{lambda: 0.7}'``: a nested YAML value, coerced to the schema's number."""
    result = snakemake(run, "-n", "all_models", "--config", "head={lambda: 0.7}")
    assert result.returncode == 0, result.stderr[-4000:]
    out = result.stdout + result.stderr
    assert "debug_heads" in out
    for rule in ("generate_images", "assign_backgrounds", "extract_features", "collect_failures"):
        assert rule not in out, rule


def test_config_override_without_configfile_uses_the_default_config(tmp_path):
    import subprocess

    from tests.workflow_utils import SNAKEMAKE

    cmd = [str(SNAKEMAKE), "-n", "all_models", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path)]
    ok = subprocess.run([*cmd, "--config", "head={lambda: 0.7}"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert "debug_heads" in ok.stdout + ok.stderr
    bad = subprocess.run([*cmd, "--config", "head={lambda: -1}"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0
    out = bad.stdout + bad.stderr
    message = [line for line in out.splitlines() if "invalid config" in line]
    assert message and "head.lambda" in message[0] and "-1" in message[0], out[-2000:]
    assert "Failed validating" not in out  # one line, not jsonschema's dump of the schema


def test_sharded_generation_gives_the_unsharded_bytes_and_a_class_change_regenerates_one_shard(run, tmp_path):
    """cluster.max_job_hours small enough for 4 shards of classes per set: the same manifests and
    metrics byte for byte, images made again from an empty store; a change to one class's
    backgrounds makes new images only in the shard holding that class."""
    work = tmp_path / "sharded"
    shutil.copytree(run, work, symlinks=True, ignore=shutil.ignore_patterns("locks"))
    config = yaml.safe_load((run / "config.yaml").read_text())  # the config of the last full run
    from clipmend import cost

    hours = cost.sd_seconds(2 * cost.generation(config, "demo")["per_set"], config) / 3600  # one job
    config["cluster"] = {"max_job_hours": hours * cost.SHARD_RUNTIME_MARGIN / 3.5}  # -> 4 shards
    assert cost.generation_shards(config, "demo") == 4
    write_config(work, config)
    kept = [*sorted(work.glob("results/demo/*/images/*.parquet")), work / "results/demo/metrics.csv"]
    unsharded = {p: p.read_bytes() for p in kept}
    assert len(unsharded) == 5
    shutil.rmtree(work / "results/demo/image_store")
    result = snakemake(work, "--cores", "2", "all_models")
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stderr.count("rule generate_images_shard:") == 2 * 4, result.stderr[-4000:]
    differ = [str(p.relative_to(work)) for p in kept if p.read_bytes() != unsharded[p]]
    assert not differ, f"sharded and unsharded bytes differ: {differ}"

    shards = {p: p.read_bytes() for p in sorted(work.glob("results/demo/*/images/shards/*/*.parquet"))}
    assert {p.parent.name for p in shards} == {"0of4", "1of4", "2of4", "3of4"}
    store = set((work / "results/demo/image_store").rglob("*.png"))
    manifest = pd.read_parquet(work / "results/demo/resnet10t/images/individual.parquet")
    label = int(manifest["label"].max())  # a class that has images, in the last shard
    name = manifest.loc[manifest["label"] == label, "class_name"].iloc[0]
    table = config["llm"]["options"]["table"]
    table[name] = [f"{background}, seen again" for background in table[name]]
    write_config(work, config)
    manifests = [str(p.relative_to(work)) for p in work.glob("results/demo/*/images/individual.parquet")]
    result = snakemake(work, "--cores", "2", *manifests)  # generation only: nothing downstream
    assert result.returncode == 0, result.stderr[-4000:]
    changed = {p.parent.name for p, data in shards.items() if p.read_bytes() != data}
    assert changed == {"3of4"}
    new = set((work / "results/demo/image_store").rglob("*.png")) - store
    rows = pd.concat([pd.read_parquet(p) for p in work.glob("results/demo/*/images/*.parquet")])
    made = rows[rows["image"].map(lambda path: work / path in new)]
    assert len(new) > 0 and set(made["label"]) == {label} and len(made) >= len(new)


def test_outputs_made_on_another_device_are_refused_where_they_are_combined(run, tmp_path):
    """A run resumed elsewhere: one model's chain made on a GPU node, the other's on this CPU.
    collect_metrics stops with one line naming both files and the rule to re-run."""
    import torch

    resumed = tmp_path / "run"
    shutil.copytree(run, resumed, symlinks=True)
    heads = resumed / "results/demo/resnet10t/debug_heads.pt"
    record = torch.load(heads, weights_only=True)
    assert set(record["provenance"]) >= {"extract_features", "collect_failures", "debug_heads"}
    for fields in record["provenance"].values():  # as a GPU node would have written them
        fields.update(device="cuda", device_name="NVIDIA H100 80GB HBM3", cuda="12.8")
    torch.save(record, heads)
    result = snakemake(resumed, "--cores", "1", "results/demo/metrics.csv")
    assert result.returncode != 0
    log = (resumed / "logs/demo/collect_metrics.log").read_text()
    line = next(x for x in log.splitlines() if x.startswith("clipmend.provenance.ProvenanceError"))
    assert "resnet10t/debug_heads.pt" in line and "mobilenetv3_050/debug_heads.pt" in line, line
    assert "'cuda' vs 'cpu'" in line or "'cpu' vs 'cuda'" in line
    assert "--forcerun " in line



def cost_check_module():
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    import cost_check

    return cost_check


def test_cost_model_matches_the_runs_measured_memory(run, capsys):
    """benchmarks/cost_check.py on this run: projected peak memory within 1.5x of Snakemake's."""
    cost_check = cost_check_module()
    status = cost_check.main([str(run), "--skip-measure"])
    out = capsys.readouterr().out
    worst = float(out.strip().splitlines()[-1].removeprefix("worst ratio "))
    for rule in ("prepare_data", "extract_features", "generated_features", "debug_heads", "collect_failures"):
        assert f"\n{rule} " in out, out
    assert status == 0 and worst <= 1.5, out


@pytest.mark.parametrize("wrong", ["cluster node", "imports"])
def test_cost_check_fails_on_a_wrong_model(run, monkeypatch, capsys, wrong):
    """Two wrong models: the cluster node's host figures (base 1.2 GB + a CUDA context) applied to
    this CPU run, or every job's script taken to import only pandas and pyarrow (no torch)."""
    from clipmend import cost

    cost_check = cost_check_module()
    if wrong == "cluster node":
        monkeypatch.setattr(cost_check, "measure_base", lambda kind: (cost.BASE_GB + cost.CUDA_HOST_GB, 1.0))
    else:
        light = cost_check.measure_base("light")
        monkeypatch.setattr(cost_check, "measure_base", lambda kind: light)
    assert cost_check.main([str(run), "--skip-measure"]) == 1
    assert float(capsys.readouterr().out.strip().splitlines()[-1].split()[-1]) > 1.5
