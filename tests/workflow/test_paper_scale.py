"""benchmarks/paper_scale.py: the cost table of the paper target parses and ends in ``gpu_hours N``."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAD_RULES = {"debug_heads", "collective_heads", "lambda_sweep", "k_sweep"}


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
    # the rules whose mem_mb comes from clipmend.cost declare at least their projected peak
    for rule, row in by_rule.items():
        if row["runs on"] != "local" and rule not in HEAD_RULES:
            assert row["memory"] == "OK", row
    total = sum(float(r["GPU h"].replace(",", "")) for r in rows)
    assert abs(total - float(lines[-1].split()[1])) <= 0.05 * total + 2
