"""Workflow steps run outside Snakemake: the same library call a rule's script makes."""

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

from clipmend.__main__ import STEPS, step
from clipmend.evaluation.metrics import COLUMNS

REPO = Path(__file__).resolve().parents[2]


def test_every_step_resolves_and_every_script_calls_one():
    assert all(callable(step(name)) for name in STEPS)
    functions = {target.split(":")[1] for target in STEPS.values()}
    for script in (REPO / "workflow/scripts").glob("*.py"):
        calls = set(re.findall(r"^from clipmend\.[\w.]+\.steps import (\w+)$", script.read_text(), re.M))
        assert len(calls) == 1 and calls <= functions, script.name


def test_collect_metrics_runs_from_the_command_line(tmp_path):
    rows = [("d", m, "f", s, "test", acc, 10) for m, acc in (("a", 0.2), ("b", 0.4))
            for s in ("baseline", "individual")]
    paths = []
    for model in ("a", "b"):
        path = tmp_path / f"{model}.csv"
        pd.DataFrame([r for r in rows if r[1] == model], columns=COLUMNS).to_csv(path, index=False)
        paths.append(str(path))
    out = subprocess.run(
        [sys.executable, "-m", "clipmend", "collect_metrics", f"metrics={paths}".replace("'", '"'),
         f"metrics_out={tmp_path / 'metrics.csv'}", f"summary_out={tmp_path / 'summary.csv'}"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert len(pd.read_csv(tmp_path / "metrics.csv")) == 4
    summary = pd.read_csv(tmp_path / "summary.csv").set_index("strategy")
    assert abs(summary.loc["baseline", "test"] - 0.3) < 1e-9


def test_unknown_step_names_the_valid_ones():
    out = subprocess.run([sys.executable, "-m", "clipmend", "nope"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0 and "collect_metrics" in out.stderr
