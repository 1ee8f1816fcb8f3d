"""Shared set-up of the fault suite: one undisturbed reference run, copied into each case.

The reference is the tiny config with one trained model, run to ``all_models`` plus one
paper rule (the λ sweep). Two variants are derived from a copy of it, each run undisturbed
once: ``llm_reference`` asks the local llama.cpp server for the backgrounds (openai backend),
``diffusers_reference`` generates the model's sets with the tiny Stable Diffusion pipeline.
A case copies a reference, deletes what it wants re-made, breaks a run and resumes it.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psutil
import pytest

from tests.workflow_utils import REPO, SNAKEMAKE, snakemake, tiny_config, write_config

if importlib.util.find_spec("llama_cpp") is not None:  # its module skips itself without it
    from tests.integration.test_llm_llamacpp import llamacpp_server  # noqa: F401  (a fixture)

MODEL = "resnet10t"
TARGETS = ("all_models", f"results/demo/{MODEL}/sweeps/lambda.csv")
SEED = int(os.environ.get("CLIPMEND_FAULT_SEED", "0"))
LLM_CACHE = "llm-cache"  # relative to the run directory, so a copied run keeps its answers
CHAT_REQUEST = '"POST /v1/chat/completions'
POINTS = int(os.environ.get("CLIPMEND_FAULT_POINTS", "2"))  # seeded kill points per case
WINDOW = (0.05, 0.9)  # the share of a job (time or finished files) the points are drawn from
TRIES = 4  # a job that ends before its point is tried again at an earlier one


def seeded_share(name: str, point: int) -> float:
    """Kill point ``point`` of case ``name``: a seeded share in the point-th of POINTS slices of WINDOW."""
    fraction = (point + random.Random(f"{SEED}:{name}:{point}").random()) / POINTS
    return WINDOW[0] + fraction * (WINDOW[1] - WINDOW[0])


def fault_config() -> dict:
    """The tiny config with one model, enough generated images that generation takes a while."""
    config = tiny_config((MODEL,))
    # 6 optimiser steps: OneCycleLR divides by zero at exactly 5 (see test_paper_workflow)
    config["train"]["batch_size"] = config["clip"]["train"]["batch_size"] = 100
    config["generator"]["images_per_background"] = 30
    config["paper"] = {"lambdas": [0.0, 0.5, 1.0], "k": [1, 2], "representatives": {}}
    return config


@dataclass
class Reference:
    """An undisturbed run: its directory, the hash of every result file, its rules' durations."""

    workdir: Path
    hashes: dict[str, str]
    durations: dict[str, float]


def output_hashes(workdir: Path) -> dict[str, str]:
    """SHA-256 of every file under ``results/`` (temporary files and claims excluded)."""
    root = workdir / "results"
    return {str(p.relative_to(workdir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not is_temporary(p)}


def is_temporary(path: Path) -> bool:
    """A temporary file of an atomic write (``clipmend.io.atomic_path``, the LLM answer cache),
    or an image store's claim on an image (``KEY.png.claim``: a lock, not an output)."""
    return (path.name.startswith(".") and path.name.endswith(".tmp")) or path.suffix == ".claim"


def temporary_files(workdir: Path) -> list[Path]:
    """Temporary files and claims that killed jobs left behind (no rule reads them as data)."""
    return [p for p in workdir.rglob("*") if p.is_file() and is_temporary(p)]


def rule_durations(workdir: Path) -> dict[str, float]:
    """Seconds each rule's job took, from Snakemake's metadata (start to end of the job)."""
    durations = {}
    for path in (workdir / ".snakemake" / "metadata").iterdir():
        record = json.loads(path.read_text())
        if record.get("starttime") and record.get("endtime"):
            durations[record["rule"]] = record["endtime"] - record["starttime"]
    return durations


def incomplete_outputs(workdir: Path) -> set[str]:
    """Outputs that Snakemake marks incomplete (a run ended while their job ran)."""
    folder = workdir / ".snakemake" / "incomplete"
    if not folder.exists():
        return set()
    return {base64.urlsafe_b64decode(p.name).decode() for p in folder.iterdir() if p.is_file()}


def copy_run(source: Path, target: Path) -> Path:
    """Copy a finished run directory (results, logs, Snakemake's metadata, the LLM cache)."""
    shutil.copytree(source, target, symlinks=True)
    return target


def file_ids(paths) -> dict[Path, tuple[int, int]]:
    """(inode, mtime) of each existing file: a file written again gets a new pair."""
    ids = {}
    for p in paths:
        try:
            stat = p.stat()
        except FileNotFoundError:
            continue
        ids[p] = (stat.st_ino, stat.st_mtime_ns)
    return ids


def store_images(workdir: Path) -> list[Path]:
    """The finished images of the run's image store."""
    return sorted((workdir / "results" / "demo" / "image_store").rglob("*.png"))


def manifest_images(workdir: Path, manifests) -> list[Path]:
    """The store images listed in the given image manifests."""
    return [workdir / p for m in manifests for p in pd.read_parquet(workdir / m)["image"]]


def cached_answers(workdir: Path) -> list[Path]:
    """The LLM answer cache's files, one per answered request."""
    return sorted((workdir / LLM_CACHE).glob("*.json"))


def snakemake_command(workdir: Path, *args: str) -> list[str]:
    """The command line of ``tests.workflow_utils.snakemake``."""
    return [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
            "--configfile", str(workdir / "config.yaml"), *args]


def start_snakemake(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start Snakemake (with ``env`` added) in its own process group, its output going to
    ``workdir/run-N.log``."""
    n = len(list(workdir.glob("run-*.log")))
    with open(workdir / f"run-{n}.log", "wb") as log:
        return subprocess.Popen(snakemake_command(workdir, *args), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


def job_process(run: subprocess.Popen, script: str, timeout: float = 120) -> psutil.Process | None:
    """The process of the running job whose script is ``script``; None if the run ended first."""
    parent = psutil.Process(run.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.poll() is None:
        try:
            for child in parent.children(recursive=True):
                if any(arg.endswith(f".{script}") for arg in child.cmdline()):
                    return child
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.02)
    return None


def kill_group(run: subprocess.Popen) -> None:
    """SIGKILL Snakemake's whole process group (Snakemake and every job it started)."""
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=60)


def resume(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """Recover as the README says: ``snakemake --unlock``, then the same command."""
    unlock = snakemake(workdir, *args, "--unlock")
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    result = snakemake(workdir, *args)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def complete_through_slurm(cluster, run: Path, fault: Callable[[threading.Event], None], *args: str,
                           env: dict[str, str] | None = None):
    """Complete ``run`` (its ``TARGETS``, with Snakemake ``args`` and ``env``) through the shipped
    slurm profile on ``cluster`` while ``fault(done)`` runs in a thread until ``done`` is set;
    Snakemake's result."""
    done = threading.Event()
    thread = threading.Thread(target=fault, args=(done,))
    thread.start()
    try:
        return cluster.run_snakemake(
            *TARGETS, "-s", str(REPO / "Snakefile"), "--directory", str(run),
            "--configfile", str(run / "config.yaml"), *args, timeout=600, env=env,
            log_path=run / "snakemake-slurm.log")
    finally:
        done.set()
        thread.join()


def make_reference(workdir: Path, config: dict, *targets: str) -> Reference:
    """Run ``targets`` undisturbed with ``config`` in ``workdir``; return the reference."""
    write_config(workdir, config)
    result = snakemake(workdir, "--cores", "2", *targets)
    assert result.returncode == 0, result.stderr[-4000:]
    return Reference(workdir, output_hashes(workdir), rule_durations(workdir))


@pytest.fixture(scope="session")
def reference(tmp_path_factory) -> Reference:
    """The undisturbed tiny run (``all_models`` and the λ sweep) that every case is derived from."""
    return make_reference(tmp_path_factory.mktemp("reference"), fault_config(), *TARGETS)


class LlamaServer:
    """llama.cpp's OpenAI-compatible server; counts the chat requests it answered."""

    def __init__(self, url: str, log_path: Path):
        self.url, self.log_path = url, log_path

    def requests(self) -> int:
        """Chat-completion requests answered so far (from the server's access log)."""
        return self.log_path.read_text(errors="replace").count(CHAT_REQUEST)

    def settle(self, quiet_s: float = 1.0, timeout: float = 60) -> int:
        """Wait until the access log stops growing (a cut-off request still ends); the count."""
        deadline, last, since = time.monotonic() + timeout, -1, time.monotonic()
        while time.monotonic() < deadline:
            size = self.log_path.stat().st_size
            if size != last:
                last, since = size, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                break
            time.sleep(0.1)
        return self.requests()


@pytest.fixture(scope="session")
def llm_server(request, tmp_path_factory) -> LlamaServer:
    """The local llama.cpp server (SmolLM2-135M) of tests/integration/test_llm_llamacpp.py."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (make setup-test)")
    url = request.getfixturevalue("llamacpp_server")
    log_path = next(tmp_path_factory.getbasetemp().glob("llamacpp*/server.log"))
    return LlamaServer(url, log_path)


@pytest.fixture(scope="session")
def llm_reference(reference, llm_server, tmp_path_factory) -> Reference:
    """The reference with backgrounds from the llama.cpp server (openai backend), undisturbed."""
    workdir = copy_run(reference.workdir, tmp_path_factory.mktemp("llm") / "run")
    return make_reference(workdir, llm_config(llm_server.url), "results/demo/backgrounds.json")


def llm_config(url: str) -> dict:
    """The fault config asking the server at ``url`` (greedy decoding, answers cached)."""
    config = fault_config()
    config["llm"] = {
        "backend": "openai",
        "prompt": config["llm"]["prompt"],
        "options": {"model": "smollm2-135m", "base_url": url, "max_tokens": 64, "temperature": 0.0,
                    "timeout": 120, "max_retries": 1, "concurrency": 1, "backoff_base": 0.1,
                    "cache_dir": LLM_CACHE},
        "fallback": ["on the water", "in the snow", "on the grass"],
    }
    return config


@pytest.fixture(scope="session")
def diffusers_reference(reference, tmp_path_factory) -> Reference:
    """The reference with the model's sets generated by the tiny Stable Diffusion pipeline."""
    pytest.importorskip("diffusers")
    from tests.tiny_diffusion import build_tiny_pipeline

    root = tmp_path_factory.mktemp("diffusers")
    pipeline = build_tiny_pipeline(root / "tiny-sd")
    config = fault_config()
    config["generator"].update(backend="diffusers", images_per_background=3,
                               options={"model": str(pipeline), "steps": 2, "height": 64, "width": 64})
    workdir = copy_run(reference.workdir, root / "run")
    targets = [f"results/demo/{MODEL}/images/{name}.parquet" for name in ("individual", "random")]
    return make_reference(workdir, config, *targets)
