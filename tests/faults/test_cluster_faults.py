"""Fault case 8: the cluster's own faults on the live single-node SLURM cluster.

A copy of the reference run loses everything from its generated images on (as in case 4)
and is completed through the shipped ``slurm`` profile. While a generation job is at work
(it has made some of its images), the cluster does to it what clusters do:

- ``requeue``: an admin or a preempting job requeues it (``scontrol requeue``): SLURM kills
  it and runs the same job id again;
- then ``node``, once the requeued job has made MADE_BEFORE more images: its node dies
  (``scontrol update State=DOWN``; SLURM fails the job with NODE_FAIL) and comes back
  (``State=RESUME``); SLURM requeues it or the profile's ``retries`` submits it again (both
  faults strike one run, one after the other: each SLURM run of the DAG costs minutes);
- walltime: the job outlives its ``--time`` (1 minute here: it stops itself right after its
  first image, ``clipmend.io.STOP_AFTER_WRITE``), SLURM ends it with TIMEOUT, and the
  profile's ``retries`` submits it again.

Either way the run completes with every result identical to the undisturbed reference, no
image that was finished before the fault is made again (inode and mtime kept), and nothing
that the killed job left (temporary files, claims) remains: the next job swept them.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from clipmend.io import STOP_AFTER_WRITE
from tests.faults.conftest import (
    MODEL,
    complete_through_slurm,
    copy_run,
    file_ids,
    output_hashes,
    store_images,
    temporary_files,
)
from tests.faults.test_disk_full import remove_generated
from tests.slurm_cluster import slurm_cluster, submitted_job_ids  # noqa: F401 (fixture)

pytestmark = [pytest.mark.faults, pytest.mark.slurm]

MADE_BEFORE = 20  # store images the generation job makes before the fault strikes


def squeue() -> list[tuple[str, str, str]]:
    """(job id, state, comment) of every job the cluster knows now."""
    out = subprocess.run(["squeue", "-h", "-o", "%i|%T|%k"], capture_output=True, text=True).stdout
    return [tuple(line.split("|", 2)) for line in out.split()]


def node_name() -> str:
    return subprocess.run(["sinfo", "-h", "-o", "%N"], capture_output=True, text=True,
                          check=True).stdout.split()[0]


def strike(fault: str, job: str) -> None:
    """Do ``fault`` to the running job ``job``."""
    if fault == "requeue":
        subprocess.run(["scontrol", "requeue", job], check=True)
        start_now(job)
        return
    node = node_name()
    subprocess.run(["scontrol", "update", f"NodeName={node}", "State=DOWN", "Reason=clipmend-test"],
                   check=True)
    deadline = time.monotonic() + 60
    while any(j == job and state == "RUNNING" for j, state, _ in squeue()):
        assert time.monotonic() < deadline, f"job {job} still runs on a DOWN node"
        time.sleep(0.2)
    resume_node(node)


def kill_orphans(jobs: list[str]) -> None:
    """Kill what is left of ``jobs`` after the run: a real node's death kills its processes, but
    on this one-node cluster a DOWNed node's job processes live on (SLURM tracks them by process
    tree, and the in-job Snakemake outlives its srun), orphaned. (Killing them at the strike
    instead left SLURM's requeue of the job held: "launch failed requeued held".)"""
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.environ().get("SLURM_JOB_ID") in jobs and "snakemake" in " ".join(process.cmdline()):
                process.kill()


def start_now(job: str) -> None:
    """SLURM holds a requeued job back for 120 s (its begin time; measured on this cluster).
    What is tested is the job's next run, not that wait: once the job is pending, which after
    ``scontrol requeue`` means its old run was cleaned up, let it start at once, as an admin can
    (``scontrol update StartTime=now``). Not after a node failure: there the job is pending at
    once while its old run is still being killed on the node, and an immediate start drains
    the node ("Duplicate jobid"), leaving the job held."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        states = {j: state for j, state, _ in squeue()}
        if states.get(job) == "PENDING":
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
            return
        if states.get(job, "GONE") not in ("COMPLETING", "REQUEUED", "CONFIGURING"):
            return  # running again, or ended for good (gone, NODE_FAIL, ...)
        time.sleep(0.2)


def resume_node(node: str) -> None:
    """Bring ``node`` back; SLURM may refuse State=RESUME while the node is still settling (or
    have returned it itself: ReturnToService=2), so try until sinfo shows it up."""
    deadline = time.monotonic() + 60
    while True:
        done = subprocess.run(["scontrol", "update", f"NodeName={node}", "State=RESUME"],
                              capture_output=True, text=True)
        state = subprocess.run(["sinfo", "-h", "-n", node, "-o", "%T"], capture_output=True,
                               text=True).stdout.strip()
        if not state.startswith(("down", "drain")):
            return
        assert time.monotonic() < deadline, f"node {node} stays {state}: {done.stderr.strip()}"
        time.sleep(0.5)


def strike_generation(faults: tuple[str, ...], store: Path, done: threading.Event, record: list) -> None:
    """Do each of ``faults`` in turn to the running generation job, each once the store has
    MADE_BEFORE more images than at the previous strike; record per strike the fault, the job,
    its comment and the images finished at that moment."""
    target = MADE_BEFORE
    for fault in faults:
        while not done.is_set():
            running = [(j, c) for j, state, c in squeue() if state == "RUNNING" and "generate_images" in c]
            images = sorted(store.rglob("*.png")) if store.exists() else []
            if running and len(images) >= target:
                job, comment = running[0]
                # before the fault: these must survive as they are
                record.append({"fault": fault, "job": job, "comment": comment, "finished": file_ids(images),
                               "at": time.monotonic()})
                strike(fault, job)
                target = len(images) + MADE_BEFORE
                break
            time.sleep(0.05)


def test_generation_job_requeued_then_its_node_lost_resumes_and_matches_the_reference(
        slurm_cluster, reference, tmp_path):  # noqa: F811
    run = copy_run(reference.workdir, tmp_path / "run")
    remove_generated(run / "results")
    store = run / "results" / "demo" / "image_store"
    record: list = []
    start = time.monotonic()
    try:
        result = complete_through_slurm(slurm_cluster, run,
                                        lambda done: strike_generation(("requeue", "node"), store, done, record))
    finally:  # never leave the node down, or the struck job's processes behind, for the next test
        resume_node(node_name())
        kill_orphans([r["job"] for r in record])

    assert result.returncode == 0, result.stdout[-5000:]
    assert [r["fault"] for r in record] == ["requeue", "node"], \
        f"the generation job was struck {len(record)} times: {result.stdout[-3000:]}"
    requeued, lost = record
    assert requeued["job"] == lost["job"]  # requeued: the same job id ran again
    assert len(lost["finished"]) >= len(requeued["finished"]) + MADE_BEFORE  # it made more after it
    for strike_ in record:  # no image finished before either fault was made again
        assert file_ids(strike_["finished"]) == strike_["finished"]
    assert len(store_images(run)) > len(lost["finished"])  # the struck job had more to make
    states = slurm_cluster.sacct(*submitted_job_ids(result.stdout), lost["job"])
    struck = states.pop(lost["job"])  # requeued again by SLURM, or failed and retried under a new id
    assert struck.startswith(("COMPLETED", "NODE_FAIL", "REQUEUED")), struck
    assert set(states.values()) <= {"COMPLETED"}, states
    assert temporary_files(run) == []
    assert output_hashes(run) == reference.hashes
    print(f"\n[fault cluster-requeue,node] SLURM job {lost['job']} ({lost['comment']}) requeued after "
          f"{len(requeued['finished'])} finished images ({requeued['at'] - start:.0f} s into the run), its "
          f"node lost after {len(lost['finished'])} ({lost['at'] - start:.0f} s), ended {struck}; "
          f"{len(states)} other jobs completed; all finished images kept; identical "
          f"({time.monotonic() - start:.0f} s)")


def test_generation_job_killed_at_its_walltime_is_retried_and_keeps_its_finished_image(
        slurm_cluster, reference, tmp_path):  # noqa: F811
    run = copy_run(reference.workdir, tmp_path / "run")
    remove_generated(run / "results")
    manifest = pd.read_parquet(reference.workdir / "results/demo" / MODEL / "images/individual.parquet")
    first = run / manifest["image"].iloc[0]  # the job's first image: it stops right after writing it
    seen: dict = {}

    def watch(done: threading.Event) -> None:
        while not done.is_set() and "finished" not in seen:
            if first.exists():
                seen["finished"] = file_ids([first])
            time.sleep(0.05)

    result = complete_through_slurm(
        slurm_cluster, run, watch, "--set-resources", "generate_images:runtime=1",
        env={STOP_AFTER_WRITE: str(first.relative_to(run))})
    assert result.returncode == 0, result.stdout[-5000:]
    states = slurm_cluster.sacct(*submitted_job_ids(result.stdout))
    timed_out = [job for job, state in states.items() if state.startswith("TIMEOUT")]
    assert len(timed_out) == 1, states
    assert set(states.values()) - {"TIMEOUT"} == {"COMPLETED"}, states
    assert seen.get("finished") and file_ids([first]) == seen["finished"]  # not made again
    assert temporary_files(run) == []
    assert output_hashes(run) == reference.hashes
    print(f"\n[fault cluster-walltime] SLURM job {timed_out[0]} ended TIMEOUT at its 1-minute limit "
          f"after its first image; retried; the image kept; {len(states) - 1} other jobs completed; "
          f"identical")
