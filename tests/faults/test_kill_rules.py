"""Fault case 1: ``kill -9`` of a rule's job at a seeded point, then the README's resume.

Each expensive rule of the tiny config has its job process (not Snakemake) killed at
``POINTS`` seeded points, one in each equal slice of 5-90% of the job's work: of the files
it finishes besides its outputs (store images, cached LLM answers) for generation and
background proposal, else of its first progress bar's steps: the job stops itself there
(``clipmend.progress.STOP_AT_PROGRESS``, its bar printed at that count) and is killed
stopped, so no kill lands in Python's start-up or after the work, however loaded the
machine (a kill timed from outside did both: the tiny config's head training lasts 0.05 s). A rule
with several outputs is also killed between its first and its last output write: the job
stops itself right after the first (``clipmend.io.STOP_AFTER_WRITE``) and is killed there.
A kill must be shown to land inside the work (its bar in the log, finished files made by
this job, or the first output written and not the last); each case's line ends with
``landed: EVIDENCE``, and a case whose kill cannot be shown to land fails. The run is then
resumed as the README says (``snakemake --unlock``, then the same command). Every result
file must equal the undisturbed reference byte for byte, and what was finished before the
kill is never made again: those files keep their inode and mtime, and the LLM server
answers only the requests that had no cached answer."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from clipmend.io import STOP_AFTER_WRITE
from clipmend.progress import STOP_AT_PROGRESS
from tests.faults.conftest import (
    MODEL,
    POINTS,
    TRIES,
    cached_answers,
    copy_run,
    file_ids,
    incomplete_outputs,
    job_process,
    manifest_images,
    output_hashes,
    resume,
    seeded_share,
    start_snakemake,
    temporary_files,
)

pytestmark = [pytest.mark.faults, pytest.mark.workflow]

M = f"results/demo/{MODEL}"


@dataclass(frozen=True)
class Case:
    """A rule to kill: its job's script, the outputs re-made (in the order the job writes
    them), the reference it is derived from."""

    name: str
    rule: str
    script: str
    outputs: tuple[str, ...]
    reference: str = "reference"

    def __str__(self) -> str:
        return self.name

    @property
    def log(self) -> str:
        """The job's log file, relative to the run directory."""
        return f"logs/demo/{self.rule}.log" if self.rule == "propose_backgrounds" else \
            f"logs/demo/{MODEL}/{self.rule}.log"


IMAGES = (f"{M}/images/individual.parquet", f"{M}/images/random.parquet")
CASES = [
    Case("train_backbone", "train_backbone", "train_backbone.py", (f"results/demo/backbones/{MODEL}.pth",)),
    Case("extract_features", "extract_features", "extract_features.py",
         (f"{M}/features.parquet", f"{M}/own_head.pt")),
    Case("propose_backgrounds-openai", "propose_backgrounds", "propose_backgrounds.py",
         ("results/demo/backgrounds.json",), "llm_reference"),
    Case("generate_images-copypaste", "generate_images", "generate_images.py", IMAGES),
    Case("generate_images-diffusers", "generate_images", "generate_images.py", IMAGES, "diffusers_reference"),
    Case("generated_features", "generated_features", "extract_generated_features.py",
         (f"{M}/gen_features/individual.parquet", f"{M}/gen_features/random.parquet")),
    Case("debug_heads", "debug_heads", "debug_heads.py", (f"{M}/debug_heads.pt", f"{M}/metrics.csv")),
]
# not lambda_sweep: on the tiny config its work after start-up lasts about 0.1 s, too short for a
# kill to be shown inside it (the old time points all landed in its imports)
BETWEEN = "between"  # the point between a job's first and last output writes
POINTS_OF = [(c, p) for c in CASES for p in range(POINTS)] + \
    [(c, BETWEEN) for c in CASES if len(c.outputs) > 1]
# a tqdm bar (``desc:  40%|####  | 2/5 [``): the job is inside its work, past imports and reading
# a line the step itself logs (after imports and reading its inputs), for steps without a bar
STEP_LINE = re.compile(r"INFO (clipmend\.[\w.]+): ([^\r\n]{1,60})")
BAR = re.compile(r"([^\r\n|]+?):\s+\d+%\|[^|\r\n]*\|\s*(\d+)/(\d+) \[")


def finished_work(case: Case, workdir) -> list:
    """The files a case's rule makes besides its outputs, each once: store images, LLM answers."""
    if case.rule == "generate_images":
        return manifest_images(workdir, case.outputs)
    if case.rule == "propose_backgrounds":
        return cached_answers(workdir)
    return []


class JobLog:
    """What a job appends to its (append-mode) log file during this run; Snakemake may also
    delete the old log first, and the job start a new one."""

    def __init__(self, path: Path):
        self.path = path
        try:
            stat = path.stat()
            self.start = (stat.st_ino, stat.st_size)
        except FileNotFoundError:
            self.start = (None, 0)

    def text(self) -> str:
        try:
            with self.path.open("rb") as f:
                inode = os.fstat(f.fileno()).st_ino
                data = f.read()
        except FileNotFoundError:
            return ""
        old_inode, offset = self.start
        return data[offset if inode == old_inode else 0:].decode(errors="replace")

    def last_bar(self) -> str | None:
        """The job's latest progress: ``'desc' at k/N`` of its progress bar, else the latest line its
        step logged (a step without a bar, e.g. the λ sweep), or None before either."""
        text = self.text()
        bars = BAR.findall(text)
        if bars:
            return f"'{bars[-1][0].strip()}' at {bars[-1][1]}/{bars[-1][2]}"
        lines = STEP_LINE.findall(text)
        return f"{lines[-1][0]} logged '{lines[-1][1].strip()}'" if lines else None


def running(job: psutil.Process) -> bool:
    try:
        return job.status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:  # ended and reaped
        return False


Wait = Callable[[psutil.Process, int], "str | None"]


def after_files(files: list[Path], count: int) -> Wait:
    """Wait until ``count`` of ``files`` exist (halved on each retry) or the job has ended."""

    def wait(job: psutil.Process, attempt: int) -> str | None:
        target = max(1, count >> attempt)
        while running(job) and sum(p.exists() for p in files) < target:
            time.sleep(0.005)
        return f"after {target} of {len(files)} finished files"

    return wait


def stopped(log: JobLog, after_write: bool) -> Wait:
    """Wait until the job stops itself at its fault point (after its first output write, or at
    a share of its first progress bar): where it stopped, or None if it ended first."""

    def wait(job: psutil.Process, attempt: int) -> str | None:
        while running(job):
            if job.status() == psutil.STATUS_STOPPED:
                return "stopped right after its first output write" if after_write else \
                    f"stopped at its progress bar {log.last_bar()}"
            time.sleep(0.005)
        return None

    return wait


def landed(case: Case, workdir: Path, log: JobLog, made: list[Path]) -> str | None:
    """Evidence that a kill landed inside the job's work, or None: its progress bar or files it
    finished, and not every output written yet."""
    written = [o for o in case.outputs if (workdir / o).exists()]
    if len(written) == len(case.outputs):
        return None  # the work was over: only the process' exit was left
    where = f"{len(written)} of {len(case.outputs)} outputs written"
    if written:
        return f"{where} ({Path(written[-1]).name} written, {Path(case.outputs[-1]).name} not)"
    finished = sum(p.exists() for p in made)
    if made and finished:
        return f"{where}, {finished} of {len(made)} finished files made by this job"
    bar = log.last_bar()
    return f"{where}, progress bar {bar}" if bar else None


def kill_job(workdir: Path, case: Case, point, made: list[Path]) -> tuple[str, str, dict]:
    """Run the case's outputs and SIGKILL its job at ``point``: where, the evidence it landed in
    the work, and what survived. A job that ends before its point, or a kill not shown to land
    in the work, is tried again (outputs removed) at an earlier point."""
    if point == BETWEEN:
        env = {STOP_AFTER_WRITE: case.outputs[0]}
    elif made:  # killed from outside after a number of finished files
        env = {}
    else:
        env = {STOP_AT_PROGRESS: f"{seeded_share(case.name, point):.4f}"}
    attempts = []
    for attempt in range(TRIES):
        for path in [*(workdir / o for o in case.outputs), *made]:
            path.unlink(missing_ok=True)
        log = JobLog(workdir / case.log)
        run = start_snakemake(workdir, "--cores", "1", *case.outputs, env=env)
        job = job_process(run, case.script)
        assert job is not None, f"no job of {case.script} appeared; see {workdir}/run-*.log"
        if made and point != BETWEEN:  # a point in the job's progress: after a seeded number of finished files
            wait = after_files(made, max(1, round(seeded_share(case.name, point) * len(made))))
        else:  # the job stops itself at its point: a share of its first bar, or after its first output
            wait = stopped(log, point == BETWEEN)
        where = wait(job, attempt)
        # the evidence is taken at the kill: Snakemake deletes a failed job's outputs after it
        evidence = landed(case, workdir, log, made) if where is not None else None
        try:
            killed = where is not None and running(job)
            if killed:
                job.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            killed = False
        returncode = run.wait(timeout=300)
        evidence = evidence if killed else None
        attempts.append(f"{where}: {'killed, ' if killed else 'ended first'}{evidence or ''}")
        if killed:
            assert returncode != 0, "Snakemake reported success for a killed job"
        if evidence:
            return where, evidence, file_ids(made)
    pytest.fail(f"{case.script}'s kill never landed inside its work: {attempts}")


@pytest.mark.parametrize("case,point", POINTS_OF, ids=str)
def test_kill_9_inside_a_rule_then_resume(case, point, request, tmp_path, capsys):
    ref = request.getfixturevalue(case.reference)
    server = request.getfixturevalue("llm_server") if case.rule == "propose_backgrounds" else None
    workdir = copy_run(ref.workdir, tmp_path / "run")
    made = finished_work(case, workdir)
    where, evidence, survived = kill_job(workdir, case, point, made)

    # nothing half-written is trusted: an output that exists is marked for re-running
    incomplete = incomplete_outputs(workdir)
    for output in case.outputs:
        assert not (workdir / output).exists() or output in incomplete, output

    requests_before = server.settle() if server else 0
    resume(workdir, "--cores", "1", *case.outputs)
    assert output_hashes(workdir) == ref.hashes
    # finished images and answers were kept, not made again; the rest made exactly once
    assert file_ids(survived) == survived
    if server:
        assert server.requests() - requests_before == len(made) - len(survived)
        assert [p.read_bytes() for p in made] == [p.read_bytes() for p in cached_answers(ref.workdir)]
    with capsys.disabled():
        print(f"\n[fault kill-9] {case.name} point {point}: killed {where} "
              f"(reference {ref.durations[case.rule]:.1f} s); kept {len(survived)} of {len(made)} "
              f"finished files; {len(temporary_files(workdir))} temporary files or claims left; "
              f"identical; landed: {evidence}")
