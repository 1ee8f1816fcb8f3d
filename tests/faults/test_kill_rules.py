"""Fault case 1: ``kill -9`` of a rule's job at a seeded point, then the README's resume.

Each expensive rule of the tiny config has its job process (not Snakemake) killed at
``POINTS`` seeded points, one in each equal slice of 5-90% of the job: of the files it
finishes besides its outputs (store images, cached LLM answers) for generation and
background proposal, else of its duration in the reference run (from the job's process
start). The run is then resumed as the README says (``snakemake --unlock``, then the same
command). Every result file must equal the undisturbed reference byte for byte, and what
was finished before the kill is never made again: those files keep their inode and
mtime, and the LLM server answers only the requests that had no cached answer."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

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
    """A rule to kill: its job's script, the outputs re-made, the reference it is derived from."""

    name: str
    rule: str
    script: str
    outputs: tuple[str, ...]
    reference: str = "reference"

    def __str__(self) -> str:
        return self.name


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
    Case("lambda_sweep", "lambda_sweep", "paper_lambda_sweep.py", (f"{M}/sweeps/lambda.csv",)),
]


def finished_work(case: Case, workdir) -> list:
    """The files a case's rule makes besides its outputs, each once: store images, LLM answers."""
    if case.rule == "generate_images":
        return manifest_images(workdir, case.outputs)
    if case.rule == "propose_backgrounds":
        return cached_answers(workdir)
    return []


def after_seconds(delay: float) -> Callable[[psutil.Process, int], str]:
    """Wait until the job has run ``delay`` s (halved on each retry)."""

    def wait(job: psutil.Process, attempt: int) -> str:
        seconds = delay / 2**attempt
        time.sleep(max(0.0, job.create_time() + seconds - time.time()))
        return f"{seconds:.2f} s into the job"

    return wait


def after_files(files: list[Path], count: int) -> Callable[[psutil.Process, int], str]:
    """Wait until ``count`` of ``files`` exist (halved on each retry) or the job has ended."""

    def wait(job: psutil.Process, attempt: int) -> str:
        target = max(1, count >> attempt)
        try:
            while job.status() != psutil.STATUS_ZOMBIE and sum(p.exists() for p in files) < target:
                time.sleep(0.005)
        except psutil.NoSuchProcess:  # ended and reaped
            pass
        return f"after {target} of {len(files)} finished files"

    return wait


def kill_job(workdir: Path, case: Case, wait, made: list[Path]) -> tuple[str, dict]:
    """Run the case's outputs and SIGKILL its job at ``wait``'s point; the point and what survived.

    A job that ends before its point is run again (outputs removed) at an earlier point.
    """
    for attempt in range(TRIES):
        for path in [*(workdir / o for o in case.outputs), *made]:
            path.unlink(missing_ok=True)
        run = start_snakemake(workdir, "--cores", "1", *case.outputs)
        job = job_process(run, case.script)
        assert job is not None, f"no job of {case.script} appeared; see {workdir}/run-*.log"
        point = wait(job, attempt)
        try:
            killed = job.status() != psutil.STATUS_ZOMBIE  # a zombie has already ended
            if killed:
                job.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            killed = False
        returncode = run.wait(timeout=300)
        if killed:
            assert returncode != 0, "Snakemake reported success for a killed job"
            return point, file_ids(made)
    pytest.fail(f"{case.script}'s job always ended before its kill point ({point})")


@pytest.mark.parametrize("case,point", [(c, p) for c in CASES for p in range(POINTS)], ids=str)
def test_kill_9_inside_a_rule_then_resume(case, point, request, tmp_path, capsys):
    ref = request.getfixturevalue(case.reference)
    server = request.getfixturevalue("llm_server") if case.rule == "propose_backgrounds" else None
    workdir = copy_run(ref.workdir, tmp_path / "run")
    made = finished_work(case, workdir)
    if made:  # a point in the job's progress: after a seeded number of finished files
        wait = after_files(made, max(1, round(seeded_share(case.name, point) * len(made))))
    else:  # a point in time: a seeded share of the job's duration in the reference
        wait = after_seconds(seeded_share(case.name, point) * ref.durations[case.rule])
    where, survived = kill_job(workdir, case, wait, made)

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
              f"finished files; {len(temporary_files(workdir))} temporary files or claims left; identical")
