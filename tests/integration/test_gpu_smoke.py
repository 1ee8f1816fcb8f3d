"""benchmarks/gpu_smoke.py runs (at a small size on the CPU) and refuses a missing GPU clearly."""

import re
import subprocess
import sys

import pytest
import torch

from tests.workflow_utils import REPO

SCRIPT = REPO / "benchmarks" / "gpu_smoke.py"


def test_small_head_job_on_the_cpu_prints_throughput():
    out = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--small", "--skip-dag",
                          "--epochs", "2"], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "epochs/s" in out.stdout and "TFLOP/s achieved" in out.stdout
    assert "projected 1000 epochs" in out.stdout
    # one table of each part against its bare loop at the same settings
    for part in ("generation", "extraction", "heads"):
        assert re.search(rf"^\| {part} \| [\d.]+ \| [\d.]+ \| [\d.]+ \| >= [\d.]+ (OK|below) \|$",
                         out.stdout, re.M), out.stdout[-2000:]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_without_a_gpu_it_says_so_and_exits_2():
    out = subprocess.run([sys.executable, str(SCRIPT), "--device", "cuda", "--skip-dag"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "no CUDA GPU" in out.stdout
