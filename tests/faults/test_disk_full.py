"""Fault case 4: the file system of the results fills up.

The results live on a small tmpfs (mounted here as root; skipped where mounting is not
allowed). A write that meets the full disk fails saying "No space left on device" and
which file, and keeps nothing of it. In the workflow, a copy of the reference run loses
everything from its generated images on (the image store included), and a filler file
leaves room for about a quarter of the images: the run fails, keeping only whole images;
with the filler deleted the same command completes, identical to the reference, without
generating the kept images again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from clipmend.io import write_csv, write_json, write_parquet, write_torch
from tests.faults.conftest import (
    MODEL,
    TARGETS,
    copy_run,
    file_ids,
    output_hashes,
    store_images,
    temporary_files,
)
from tests.workflow_utils import snakemake

pytestmark = pytest.mark.faults

PAGE = 4096  # tmpfs allocates whole pages
# everything the workflow makes from the model's generated images on
REMADE = ("image_store", f"{MODEL}/images", f"{MODEL}/gen_features", f"{MODEL}/debug_heads.pt",
          f"{MODEL}/metrics.csv", f"{MODEL}/sweeps", "metrics.csv", "summary.csv")


def remove_generated(results: Path) -> None:
    """Delete what the workflow makes from the model's generated images on (``REMADE``)."""
    for name in REMADE:
        target = results / "demo" / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()


def pages(paths: list[Path]) -> int:
    """Bytes that ``paths`` take on a tmpfs."""
    return sum(-(-p.stat().st_size // PAGE) * PAGE for p in paths)


@pytest.fixture
def tmpfs(tmp_path) -> Iterator[Callable[[Path, int], None]]:
    """``mount(path, size_bytes)``: a tmpfs at ``path``, unmounted after the test."""
    mounted: list[Path] = []

    def mount(path: Path, size: int) -> None:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "clipmend-faults",
                                 str(path)], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(path)

    yield mount
    for path in mounted:
        subprocess.run(["umount", str(path)], check=True)


WRITERS = {
    "torch": lambda path: write_torch({"weight": np.ones(600_000, np.float32)}, path),
    "parquet": lambda path: write_parquet(pd.DataFrame({"x": np.arange(400_000)}), path),
    "csv": lambda path: write_csv(pd.DataFrame({"x": np.arange(400_000)}), path),
    "json": lambda path: write_json(list(range(400_000)), path),
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_write_meeting_a_full_disk_names_the_file_and_keeps_nothing(tmpfs, tmp_path, writer):
    disk = tmp_path / "disk"
    tmpfs(disk, 1 << 20)
    path = disk / "out" / f"output.{writer}"
    with pytest.raises(OSError, match=rf"No space left on device while writing {path} "):
        WRITERS[writer](path)
    assert [p for p in disk.rglob("*") if p.is_file()] == []  # no output, no temporary file


def test_run_filling_the_disk_fails_clearly_and_resumes_identically(reference, tmpfs, tmp_path):
    run = copy_run(reference.workdir, tmp_path / "run")
    (run / "results").rename(run / "results.copy")
    remove_generated(run / "results.copy")
    results = [p for p in (reference.workdir / "results").rglob("*") if p.is_file()]
    images = store_images(reference.workdir)
    room = pages(images) // 4  # about half of the model's first set
    tmpfs(run / "results", pages(results) + (2 << 20))  # a complete run fits, with 2 MiB to spare
    shutil.copytree(run / "results.copy", run / "results", dirs_exist_ok=True)
    shutil.rmtree(run / "results.copy")
    filler = run / "results" / "filler"
    filler.write_bytes(bytes(shutil.disk_usage(run / "results").free - room))

    result = snakemake(run, "--cores", "1", *TARGETS)

    assert result.returncode != 0
    log = (run / f"logs/demo/{MODEL}/generate_images.log").read_text()
    assert "No space left on device while writing results/demo/image_store/" in log, log[-3000:]
    assert temporary_files(run) == []
    made = store_images(run)
    assert 0 < len(made) < len(images)
    for path in made:  # only whole images were kept
        with Image.open(path) as image:
            image.verify()
    assert not list((run / f"results/demo/{MODEL}/images").glob("*.parquet"))

    before = file_ids(made)
    filler.unlink()
    result = snakemake(run, "--cores", "1", *TARGETS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert output_hashes(run) == reference.hashes
    assert file_ids(made) == before  # the images kept were not generated again
