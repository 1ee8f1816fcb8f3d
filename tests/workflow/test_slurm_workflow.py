"""The demo's all_models, trimmed, through the shipped slurm profile on a live SLURM cluster."""

import pandas as pd
import pytest

from tests.slurm_cluster import slurm_cluster, submitted_job_ids  # noqa: F401 (fixture)
from tests.workflow_utils import REPO, tiny_config, write_config

pytestmark = pytest.mark.slurm


def test_all_models_runs_through_sbatch(slurm_cluster, tmp_path):  # noqa: F811
    write_config(tmp_path, tiny_config())
    result = slurm_cluster.run_snakemake(
        "all_models", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
        "--configfile", str(tmp_path / "config.yaml"),
        timeout=900, log_path=tmp_path / "snakemake.log")
    assert result.returncode == 0, result.stdout[-5000:]
    metrics = pd.read_csv(tmp_path / "results/demo/metrics.csv")
    assert set(metrics["model"]) == {"resnet10t", "mobilenetv3_050"}
    job_ids = submitted_job_ids(result.stdout)
    assert len(job_ids) >= 5, result.stdout[-3000:]
    states = slurm_cluster.sacct(*job_ids)
    assert set(states.values()) == {"COMPLETED"}, states
    slurm_logs = list((tmp_path / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert {p.stem for p in slurm_logs} >= set(job_ids)
    # aggregation rules are local: never submitted
    assert "rule_collect_metrics" not in {p.parent.name for p in slurm_logs}
