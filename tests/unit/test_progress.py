"""The kill tests' fault point: a job stops itself at a share of its first progress bar."""

import os
import subprocess
import sys
import time

import psutil
import pytest

from clipmend.progress import STOP_AT_PROGRESS

JOB = """
import sys
from clipmend.progress import ProgressBar
for _ in ProgressBar(range(1), desc="one step"):  # a bar of one step never stops
    pass
done = 0
for _ in ProgressBar(range(20), desc="work"):
    done += 1
bar = ProgressBar(total=20, desc="updates")  # a later bar never stops: the process stops once
for _ in range(20):
    bar.update(1)
bar.close()
print("finished", done, flush=True)
"""


def run_job(env: dict[str, str]) -> tuple[subprocess.Popen, psutil.Process]:
    job = subprocess.Popen([sys.executable, "-c", JOB], env={**os.environ, **env},
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return job, psutil.Process(job.pid)


def wait_stopped(process: psutil.Process, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_STOPPED:
                return True
            if process.status() == psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            return False
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("share,count", [(0.05, 1), (0.5, 10), (0.99, 19)])
def test_the_job_stops_inside_its_first_bar_at_the_share_and_shows_the_count(share, count):
    job, process = run_job({STOP_AT_PROGRESS: str(share)})
    try:
        assert wait_stopped(process), job.communicate(timeout=60)
        job.kill()
        out, err = job.communicate(timeout=60)
    finally:
        job.kill()
    assert "finished" not in out  # stopped inside the work
    assert f"work:  {100 * count // 20:>2}%" in err and f"| {count}/20 [" in err.split("work:")[-1], err


def test_without_the_fault_point_the_job_runs_through_once_stopped_and_continued():
    job, process = run_job({})
    out, _ = job.communicate(timeout=60)
    assert job.returncode == 0 and "finished 20" in out
    job, process = run_job({STOP_AT_PROGRESS: "0.5"})
    assert wait_stopped(process)
    process.resume()  # SIGCONT: the rest of the work, and no second stop in the later bar
    out, _ = job.communicate(timeout=60)
    assert job.returncode == 0 and "finished 20" in out
