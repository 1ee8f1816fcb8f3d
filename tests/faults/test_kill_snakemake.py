"""Fault case 2: ``kill -9`` of Snakemake's whole process group mid-run, then the README's resume.

A copy of the reference run loses everything from the model's feature extraction on, and
is re-run with two cores. At ``POINTS`` seeded points (one in each equal slice of 5-90% of
that re-run's duration in the reference, counted from the moment its first job's progress
bar appears in its log, so no kill lands in start-up) the process group of Snakemake and its
jobs is killed at once: nothing cleans up. The kill must land while a job is at work: the
case's line ends with ``landed:`` and the jobs running then, with the latest progress bar.
Then: every result file that exists and is not marked
incomplete by Snakemake must already equal the reference (nothing a later run trusts is
half-made); the README's resume (``--unlock``, then the same command) completes; every
result equals the reference byte for byte; images finished before the kill are kept, not
made again; and a dry run has nothing left to do.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.faults.conftest import (
    MODEL,
    POINTS,
    TARGETS,
    TRIES,
    copy_run,
    file_ids,
    incomplete_outputs,
    kill_group,
    output_hashes,
    resume,
    seeded_share,
    start_snakemake,
    store_images,
    temporary_files,
)
from tests.faults.test_kill_rules import JobLog
from tests.workflow_utils import snakemake

pytestmark = [pytest.mark.faults, pytest.mark.workflow]

M = f"results/demo/{MODEL}"
REMOVED = [f"{M}/{name}" for name in ("features.parquet", "own_head.pt", "failures.parquet",
                                       "failure_head.pt", "assignments.parquet", "images",
                                       "gen_features", "debug_heads.pt", "metrics.csv", "sweeps")]
REMOVED += ["results/demo/image_store", "results/demo/metrics.csv", "results/demo/summary.csv",
            "results/demo/clip_assignment_accuracy.csv"]
RERUN = ["extract_features", "collect_failures", "assign_backgrounds", "generate_images",
         "generated_features", "debug_heads", "lambda_sweep", "collect_metrics", "assignment_accuracy"]
ARGS = ("--cores", "2", *TARGETS)
FIRST_LOG = f"logs/demo/{MODEL}/extract_features.log"  # the first job re-run


def remove(workdir, paths) -> None:
    """Delete files and folders under ``workdir`` (missing ones are fine)."""
    for rel in paths:
        path = workdir / rel
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def running_jobs(run: subprocess.Popen, logs: dict[Path, JobLog]) -> list[str]:
    """The job scripts Snakemake is running now, and the latest progress bar of the run's logs."""
    scripts = set()
    for child in psutil.Process(run.pid).children(recursive=True):
        try:
            scripts.update(Path(a).name.split(".", 1)[1] for a in child.cmdline()
                           if "/.snakemake/scripts/" in a and a.endswith(".py"))
        except psutil.NoSuchProcess:
            continue
    if not scripts:
        return []
    with_bars = [(log.path.stat().st_mtime, log.path.name, log.last_bar()) for log in logs.values()
                 if log.path.exists() and log.last_bar()]
    _, name, bar = max(with_bars)
    return [*sorted(scripts), f"latest progress {bar} in {name}"]


def first_bar(run: subprocess.Popen, log: JobLog) -> float | None:
    """When the run's first job showed its progress bar; None if the run ended first."""
    while log.last_bar() is None:
        if run.poll() is not None:
            return None
        time.sleep(0.01)
    return time.monotonic()


@pytest.mark.parametrize("point", range(POINTS))
def test_kill_snakemake_process_group_then_resume(point, reference, tmp_path, capsys):
    workdir = copy_run(reference.workdir, tmp_path / "run")
    duration = sum(reference.durations[rule] for rule in RERUN)
    delay = seeded_share("snakemake", point) * duration
    for _ in range(TRIES):  # a run that ends before its point is tried again at half the delay
        remove(workdir, REMOVED)
        logs = {p: JobLog(p) for p in (workdir / "logs").rglob("*.log")}
        first = logs.setdefault(workdir / FIRST_LOG, JobLog(workdir / FIRST_LOG))
        run = start_snakemake(workdir, *ARGS)
        if first_bar(run, first) is not None:
            time.sleep(delay)
            at_work = running_jobs(run, logs) if run.poll() is None else []
            if at_work:
                kill_group(run)
                break
        run.wait(timeout=600)
        assert run.returncode == 0, f"the undisturbed part failed; see {workdir}/run-*.log"
        delay /= 2
    else:
        pytest.fail(f"the run always ended before its kill point ({delay:.1f} s)")

    # what a later run would trust (present, not marked incomplete) is already right
    incomplete = incomplete_outputs(workdir)
    hashes = output_hashes(workdir)
    trusted = {path: digest for path, digest in hashes.items() if path not in incomplete}
    assert {p: reference.hashes.get(p) for p in trusted} == trusted
    half_done = sorted(p for p in incomplete if p in hashes)
    survived = file_ids(store_images(workdir))

    resume(workdir, *ARGS)
    assert output_hashes(workdir) == reference.hashes
    assert file_ids(survived) == survived  # finished images kept, not made again
    dry = snakemake(workdir, "-n", *TARGETS)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stderr[-3000:]
    with capsys.disabled():
        print(f"\n[fault kill snakemake] point {point}: killed {delay:.1f} s into the run "
              f"(reference {duration:.1f} s); {len(incomplete)} outputs marked incomplete, "
              f"{len(half_done)} of them present {half_done}; kept {len(survived)} images; "
              f"{len(temporary_files(workdir))} temporary files or claims left; identical; "
              f"landed: {', '.join(at_work)} running")
