"""Fault case 7: a SLURM job cancelled (``scancel``) mid-run on the live single-node cluster.

A copy of the reference run loses everything from its generated images on (as in case 4)
and is completed through the shipped ``slurm`` profile (tests/slurm_cluster.py). The first
job to run for a few seconds is cancelled; the profile's ``retries: 1`` submits it again,
and the run completes with every result identical to the undisturbed local reference.
"""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from tests.faults.conftest import complete_through_slurm, copy_run, output_hashes, temporary_files
from tests.faults.test_disk_full import remove_generated
from tests.slurm_cluster import slurm_cluster, submitted_job_ids  # noqa: F401 (fixture)

pytestmark = [pytest.mark.faults, pytest.mark.slurm]

RUNNING_S = 5.0  # how long the job runs before it is cancelled


def cancel_first_running_job(done: threading.Event, cancelled: dict[str, str]) -> None:
    """``scancel`` the first job seen running for RUNNING_S; record its id and comment."""
    first_seen: dict[str, float] = {}
    while not done.is_set():
        queue = subprocess.run(["squeue", "-h", "-o", "%i|%T|%k"], capture_output=True,
                               text=True).stdout
        for line in queue.split():
            job, state, comment = line.split("|", 2)
            if state != "RUNNING":
                continue
            started = first_seen.setdefault(job, time.monotonic())
            if time.monotonic() - started >= RUNNING_S:
                subprocess.run(["scancel", job], check=True)
                cancelled[job] = comment
                return
        time.sleep(0.2)


def test_cancelled_job_is_retried_and_the_run_matches_the_reference(slurm_cluster, reference,  # noqa: F811
                                                                     tmp_path):
    run = copy_run(reference.workdir, tmp_path / "run")
    remove_generated(run / "results")
    cancelled: dict[str, str] = {}
    result = complete_through_slurm(slurm_cluster, run, lambda done: cancel_first_running_job(done, cancelled))

    assert result.returncode == 0, result.stdout[-5000:]
    assert len(cancelled) == 1, f"no job was cancelled: {result.stdout[-3000:]}"
    states = slurm_cluster.sacct(*submitted_job_ids(result.stdout))
    (job, comment), = cancelled.items()
    assert states.pop(job).startswith("CANCELLED"), comment  # sacct: "CANCELLED by UID"
    assert set(states.values()) == {"COMPLETED"}, states
    assert len(states) >= 2  # the cancelled job again, and what depends on it
    assert temporary_files(run) == []
    assert output_hashes(run) == reference.hashes
    print(f"\ncancelled SLURM job {job} ({comment}); {len(states)} jobs completed")
