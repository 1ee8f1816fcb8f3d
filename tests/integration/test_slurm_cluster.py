"""The shipped `slurm` profile, run end to end on a real (throw-away) SLURM cluster.

The cluster test needs root and apt (see slurm_cluster.can_host_slurm) and takes about
a minute; elsewhere it is skipped with the reason.  Run it alone with
    .venv/bin/pytest -m slurm -rs tests/integration/test_slurm_cluster.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.slurm_cluster import (
    MUNGE_SOCKET,
    REPO_ROOT,
    SLURM_CONF_LINK,
    SlurmCluster,
    can_host_slurm,
    leftover_processes,
    submitted_job_ids,
)

# Three SLURM jobs in a chain (a -> gpu -> c) and a local target rule.
TOY_SNAKEFILE = textwrap.dedent(r"""
    localrules: all

    def record(name):
        # What a job sees: its SLURM job id, its GPU, and which python/snakemake it finds.
        return (
            "{{ echo rule=" + name
            + "; echo slurm_job_id=${{SLURM_JOB_ID:-none}}"
            + "; echo cuda_visible_devices=${{CUDA_VISIBLE_DEVICES:-unset}}"
            + "; echo python=$(command -v python || echo none)"
            + "; echo snakemake=$(command -v snakemake || echo none); }}"
        )

    rule all:
        input: "results/c.txt"

    rule a:
        output: "results/a.txt"
        shell: record("a") + " > {output}"

    rule gpu:
        input: "results/a.txt"
        output: "results/gpu.txt"
        resources: gpu=1
        shell: record("gpu") + " > {output}"

    rule c:
        input: "results/gpu.txt"
        output: "results/c.txt"
        shell: record("c") + " > {output}"
""")


def _facts(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().split())


def _toy_args(workdir: Path) -> list[str]:
    # Snakemake runs in the repository root (where a user types `snakemake --profile
    # slurm`, and ./slurm -> profiles/slurm), on the toy Snakefile, with its outputs,
    # .snakemake/ and SLURM logs in `workdir`.
    (workdir / "Snakefile").write_text(TOY_SNAKEFILE)
    return ["-s", str(workdir / "Snakefile"), "--directory", str(workdir)]


def test_repo_root_profile_symlink():
    link = REPO_ROOT / "slurm"
    assert link.is_symlink(), "the repository root needs the symlink slurm -> profiles/slurm"
    assert os.readlink(link) == "profiles/slurm", "keep the symlink relative"
    assert (link / "config.yaml").is_file()


def test_profile_dry_run(tmp_path):
    """`snakemake --profile slurm -n` finds the profile and its resources (no cluster)."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    exe = Path(sys.executable).parent / "snakemake"
    proc = subprocess.run(
        ["timeout", "-k", "10", "120", str(exe), "--profile", "slurm", "-n",
         *_toy_args(tmp_path), "all"],
        cwd=REPO_ROOT, capture_output=True, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("CLIPMEND_SLURM_")},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "runtime=60" in out and "mem_mb=4000" in out, out
    assert "gpu=1" in out, out


@pytest.mark.slurm
def test_toy_workflow_through_real_slurm(tmp_path):
    ok, why = can_host_slurm()
    if not ok:
        pytest.skip(f"cannot start a SLURM test cluster here: {why}")
    pytest.importorskip("snakemake_executor_plugin_slurm")

    args = _toy_args(tmp_path)
    t0 = time.monotonic()
    with SlurmCluster() as cluster:
        t_up = time.monotonic() - t0
        pids = cluster.started_pids()
        proc = cluster.run_snakemake(*args, "all", cwd=REPO_ROOT, timeout=300,
                                     log_path=tmp_path / "snakemake-slurm.log")
        t_run = time.monotonic() - t0 - t_up
        out = proc.stdout
        assert proc.returncode == 0, f"snakemake failed ({proc.returncode}):\n{out[-6000:]}"

        # Every non-local job went through sbatch, and accounting saw it complete.
        job_ids = submitted_job_ids(out)
        assert len(job_ids) == 3, out[-6000:]
        states = cluster.sacct(*job_ids)
        assert states == {j: "COMPLETED" for j in job_ids}, states
    t_stop = cluster.timings["stop"]

    facts = {rule: _facts(tmp_path / f"results/{rule}.txt") for rule in ("a", "gpu", "c")}
    assert sorted(f["slurm_job_id"] for f in facts.values()) == sorted(job_ids)
    assert facts["gpu"]["cuda_visible_devices"] == "0"      # the fake GPU
    assert facts["a"]["cuda_visible_devices"] == "unset"
    # run_snakemake puts the venv first on PATH; sbatch --export=ALL carries it into jobs.
    venv_bin = str(Path(sys.executable).parent)
    assert facts["c"]["snakemake"] == f"{venv_bin}/snakemake", facts["c"]

    # The SLURM logs of all three jobs are kept (slurm-keep-successful-logs in the profile).
    logs = sorted(p.stem for p in (tmp_path / ".snakemake/slurm_logs").rglob("*.log"))
    assert logs == sorted(job_ids), logs
    assert (tmp_path / f".snakemake/slurm_logs/rule_gpu/{facts['gpu']['slurm_job_id']}.log"
            ).exists()

    # Everything the cluster started is gone again.
    assert leftover_processes(pids) == {}
    assert not SLURM_CONF_LINK.exists() and not SLURM_CONF_LINK.is_symlink()
    if "munged" in pids:  # (a munged that ran before is reused and left running)
        assert not MUNGE_SOCKET.exists()
    assert cluster.base is not None and not cluster.base.exists()

    print(f"\nSLURM toy run: cluster start {t_up:.1f} s, snakemake {t_run:.1f} s, "
          f"stop {t_stop:.1f} s; detail: "
          + ", ".join(f"{k}={v:.2f}" for k, v in cluster.timings.items()))
