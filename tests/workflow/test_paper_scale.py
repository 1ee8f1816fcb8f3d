"""benchmarks/paper_scale.py: the cost table of the paper target parses and ends in ``gpu_hours N``."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_paper_scale_imagenet_table():
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/paper_scale.py"), "config/imagenet.yaml",
         "--skip-measure"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    lines = out.strip().splitlines()
    assert re.fullmatch(r"gpu_hours \d+(\.\d+)?", lines[-1]), lines[-1]
    start = next(i for i, line in enumerate(lines) if line.startswith("| rule |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == len(header), line
        rows.append(dict(zip(header, cells)))
    by_rule = {r["rule"]: r for r in rows}
    assert by_rule["extract_features"]["jobs"] == "40"
    assert by_rule["generate_images"]["unit"] == "new images"
    assert {"collect_failures", "cross_features", "generate_collective"} <= set(by_rule)
    # every rule declares at least its projected peak memory and its projected time
    for row in by_rule.values():
        if row["runs on"] != "local":
            assert row["memory"] == "OK" and row["time"] == "OK", row
    # every job fits cluster.max_job_hours (12 by default): generation runs in shards
    assert max(float(r["h/job (max)"].replace(",", "")) for r in rows) <= 12
    assert int(by_rule["generate_images_shard"]["jobs"]) > int(by_rule["generate_images"]["jobs"])
    total = sum(float(r["GPU h"].replace(",", "")) for r in rows)
    assert abs(total - float(lines[-1].split()[1])) <= 0.05 * total + 2


def test_paper_scale_measures_cpu_throughputs_in_the_same_run():
    """Without --skip-measure the CPU figures are measured here (timm and open_clip load)."""
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/paper_scale.py"), "config/config.yaml"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert re.search(r"\| CPU resnet50_b32_images_per_s \(1 thread\) \| [\d.]+ \| measured \|", out.stdout)
    assert re.fullmatch(r"gpu_hours \d+(\.\d+)?", out.stdout.strip().splitlines()[-1])
