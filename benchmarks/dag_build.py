"""Seconds for ``snakemake -n`` (a dry run: parse and build the DAG) of the 40-model ImageNet config.

    .venv/bin/python benchmarks/dag_build.py [--config config/imagenet.yaml]
        [--targets all_models paper] [--repeats 3]

Each command runs in an empty temporary directory: a dry run needs no data, weights or
API key. Times, fastest of ``--repeats`` with the commands in turns (wall clock and CPU
seconds of the whole process): Snakemake's start and the workflow's parse alone (``--list-target-rules``, the
reference), the dry run of the demo config and the dry run of ``--config``; with the
jobs each DAG holds. The last line is the ImageNet DAG's seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "config" / "imagenet.yaml"))
    parser.add_argument("--targets", nargs="+", default=["all_models", "paper"])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the fastest counts")
    return parser.parse_args(argv)


def cpu_seconds() -> float:
    """User plus system CPU seconds of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(config: Path, args: list[str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of a snakemake command in an empty directory, and its output."""
    with tempfile.TemporaryDirectory() as workdir:
        cmd = [str(SNAKEMAKE), "-s", str(ROOT / "Snakefile"), "--directory", workdir,
               "--configfile", str(config), *args]
        started, cpu = time.perf_counter(), cpu_seconds()
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return seconds, cpu, done.stdout + done.stderr


def jobs(output: str) -> int:
    """The job count of a dry run's job-stats table (its 'total' line)."""
    match = re.search(r"^total\s+(\d+)\s*$", output, re.MULTILINE)
    if match is None:
        raise SystemExit(f"no 'total' line in the dry run's output:\n{output[-2000:]}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    demo = ROOT / "config" / "config.yaml"
    runs = [
        ("start + parse (reference)", demo, ["--list-target-rules"]),
        (f"dry run, {demo.name}", demo, ["-n", *args.targets]),
        (f"dry run, {Path(args.config).name}", Path(args.config), ["-n", *args.targets]),
    ]
    best, cpu_best, counts = {}, {}, {}
    for repeat in range(args.repeats):  # the commands in turns: load from other processes hits all alike
        for name, config, extra in runs:
            seconds, cpu, output = timed(config, extra)
            best[name] = min(best.get(name, float("inf")), seconds)
            cpu_best[name] = min(cpu_best.get(name, float("inf")), cpu)
            counts[name] = jobs(output) if "-n" in extra else 0
            print(f"  round {repeat + 1}, {name}: {seconds:.2f} s", flush=True)
    rows = [(name, best[name], cpu_best[name], counts[name]) for name, _, _ in runs]
    print(f"\ntargets: {' '.join(args.targets)}; fastest of {args.repeats}")
    print(f"{'command':<32} {'seconds':>8} {'cpu s':>6} {'jobs':>6} {'ms/job over reference':>22}")
    reference = rows[0][1]
    for name, seconds, cpu, count in rows:
        per_job = f"{(seconds - reference) / count * 1000:.1f}" if count else "-"
        print(f"{name:<32} {seconds:>8.2f} {cpu:>6.2f} {count:>6} {per_job:>22}")
    name, seconds, _, count = rows[-1]
    print(f"{name} ({count} jobs): {seconds:.2f} s, {seconds / reference:.2f} x the start and parse")


if __name__ == "__main__":
    main()
