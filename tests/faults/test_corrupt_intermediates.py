"""Fault case 3: a truncated or corrupt intermediate of a finished run.

Each case copies the undisturbed reference run (``tests/faults/conftest.py``), damages one
file in place (its times kept, so only its reader can tell) and forces the job that reads
it to run again. The job fails with an error naming the file and the ``--forcerun`` that
makes it again (deleting it is not enough: Snakemake does not remake a missing
intermediate whose consumers' outputs exist), and leaves no output; following that advice,
the run completes with every result byte-identical to the reference. An image in the
store overwritten with junk is found where its key points and generated again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tests.faults.conftest import MODEL, TARGETS, copy_run, output_hashes
from tests.workflow_utils import snakemake

pytestmark = pytest.mark.faults

OUT = f"results/demo/{MODEL}"


def cut_in_half(data: bytes) -> bytes:
    """The first half, as an interrupted copy leaves it."""
    return data[: len(data) // 2]


def empty(data: bytes) -> bytes:
    """Zero bytes, as a full disk can leave a file."""
    return b""


def damage(path: Path, how: Callable[[bytes], bytes]) -> None:
    """Damage a file in place, keeping its times: Snakemake cannot tell that it changed."""
    stat = path.stat()
    path.write_bytes(how(path.read_bytes()))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


# damaged file, damage, the output of the job that reads it, recovered in the test
CASES = {
    "features.parquet cut in half": (f"{OUT}/features.parquet", cut_in_half, f"{OUT}/failures.parquet", False),
    "failures.parquet cut in half": (f"{OUT}/failures.parquet", cut_in_half, f"{OUT}/assignments.parquet", False),
    "manifest cut in half": (f"{OUT}/images/individual.parquet", cut_in_half,
                             f"{OUT}/gen_features/individual.parquet", False),
    "own_head.pt empty": (f"{OUT}/own_head.pt", empty, f"{OUT}/failures.parquet", False),
    "debug_heads.pt empty": (f"{OUT}/debug_heads.pt", empty, f"{OUT}/sweeps/lambda.csv", True),
    "backbone .pth empty": (f"results/demo/backbones/{MODEL}.pth", empty,
                            f"{OUT}/gen_features/individual.parquet", False),
}


def failed_job_log(workdir: Path, result) -> str:
    """The log of the job that failed, as Snakemake points to it."""
    found = re.search(r"log: (\S+) \(check log file", result.stderr)
    assert found, result.stderr[-3000:]
    return (workdir / found.group(1)).read_text()


@pytest.mark.parametrize("case", list(CASES))
def test_corrupt_intermediate_fails_naming_it_and_the_advice_recovers(reference, tmp_path, case):
    damaged, how, consumer, recover = CASES[case]
    run = copy_run(reference.workdir, tmp_path / "run")
    damage(run / damaged, how)

    result = snakemake(run, "--cores", "1", "--force", consumer)

    assert result.returncode != 0
    error = failed_job_log(run, result)
    assert f"CorruptFileError: {damaged} is truncated or corrupt" in error, error[-3000:]
    assert f"re-run snakemake with `--forcerun {damaged}`" in error
    assert not (run / consumer).exists()  # nothing computed from the damaged file is kept
    if recover:
        result = snakemake(run, "--cores", "1", "--forcerun", damaged, *TARGETS)
        assert result.returncode == 0, result.stderr[-3000:]
        assert output_hashes(run) == reference.hashes


def test_junk_image_in_the_store_is_named_then_generated_again(reference, tmp_path):
    run = copy_run(reference.workdir, tmp_path / "run")
    manifest = f"{OUT}/images/individual.parquet"
    image = pd.read_parquet(run / manifest)["image"].iloc[0]
    good = (run / image).read_bytes()
    damage(run / image, lambda data: bytes(range(256)) * (len(data) // 256 + 1))

    # the model's features would read it: the job fails, naming the image and the fix
    result = snakemake(run, "--cores", "1", "--force", f"{OUT}/gen_features/individual.parquet")
    assert result.returncode != 0
    error = failed_job_log(run, result)
    assert f"cannot read image '{image}'" in error, error[-3000:]
    assert f"re-run with `--forcerun {manifest}`" in error

    # the advice: the store finds the junk under the image's key and generates it again
    result = snakemake(run, "--cores", "1", "--forcerun", manifest, f"{OUT}/gen_features/individual.parquet")
    assert result.returncode == 0, result.stderr[-3000:]
    store_log = (run / f"logs/demo/{MODEL}/generate_images.log").read_text()
    assert "1 images in the store are truncated or corrupt" in store_log
    assert (run / image).read_bytes() == good
    assert output_hashes(run) == reference.hashes  # the model's features are those of the reference
