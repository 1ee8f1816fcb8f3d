"""The cost model against a finished run: projected vs measured time and peak memory per rule.

    python benchmarks/cost_check.py RUN_DIR [--config CONFIG] [--limit 1.5]

``RUN_DIR`` is the run's working directory (with ``benchmarks/runs/``) or its ``results``
folder. Every job of the run that Snakemake benchmarked (the rules' ``benchmark:`` TSVs:
wall seconds ``s`` and peak resident memory ``max_rss`` in MB, of the job's process and
its children) is projected by ``clipmend.cost`` for the same config on THIS machine's CPU,
and the two are compared per rule.

The CPU profile is calibrated here, in this run, and printed: the base process of a job
(a Python process importing what the rule's script imports, with ``snakemake.script``;
its peak RSS and import time, measured in a subprocess per import set), no CUDA context,
no decoding workers (the runs' jobs have one thread); and the per-core throughputs of
``cost.CPU`` (measured by ``benchmarks/paper_scale.py``'s ``measure_cpu`` unless
``--skip-measure``). A rule the cost model does not size is projected at its base process.

Snakemake samples a job's memory every 0.5 s for its first 30 samples (15 s), then every
30 s (snakemake.benchmark: BENCHMARK_INTERVAL_SHORT, BENCHMARK_INTERVAL). A job longer than
15 s is sampled 30 s apart after its first 15 s (often still importing on a busy machine),
and a job's peak is mostly brief (the features written at its end): its measured peak is a
lower bound, so for it only an under-projection counts (measured / projected); a job sampled
every 0.5 s to its end counts both ways.

Time is shown against the job's wall seconds and its CPU seconds (``cpu_time``: on a
shared machine a job's wall time includes waiting for a core; the projection is of one
core's work).

The last line is ``worst ratio R``: the largest of projected/measured and
measured/projected peak memory over all rules (each rule's largest job). The exit status
is 1 when R exceeds ``--limit`` (default 1.5).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "src"))

import paper_scale  # noqa: E402

from clipmend import cost  # noqa: E402

CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
HEAD_JOBS = cost.HEAD_RULES  # the rules cost.head_job sizes
# the import set of each rule's script, and a process importing it (paper_scale measures the
# same sets for the start-up of the cluster's jobs)
IMPORTS, import_set, measure_base = paper_scale.IMPORTS, paper_scale.import_set, paper_scale.measure_base


def train_activations(config: dict) -> dict[str, float]:
    """Per model trained from scratch (and ``clip``): the sum of its leaf modules' outputs per
    image in training mode (M elements, what autograd keeps), counted on the meta device."""
    paper_scale.fix_torchvision()
    import timm
    import torch

    counts = {}
    with torch.device("meta"):
        for name, entry in config["models"].items():
            if str(entry.get("weights")) != "train":
                continue
            net = timm.create_model(entry["arch"], pretrained=False, num_classes=2,
                                    **(entry.get("kwargs") or {}))
            px = cost.profile(entry)[0]
            counts[name] = paper_scale.leaf_outputs(net.train(), torch.empty(2, 3, px, px))[2] / 2e6
        if str(config["clip"].get("weights")) == "train":
            from open_clip.factory import get_model_config
            from open_clip.model import CLIP

            from clipmend.clip.loading import register_local_configs

            register_local_configs()
            model_cfg = get_model_config(config["clip"]["arch"])
            clip = CLIP(**model_cfg)
            px = cost.profile(config["clip"])[0]
            tokens = torch.zeros(2, model_cfg["text_cfg"].get("context_length", 77), dtype=torch.long)
            counts["clip"] = paper_scale.leaf_outputs(clip.train(), torch.empty(2, 3, px, px), tokens)[2] / 2e6
    return counts


def count_sizes(run: Path, config: dict) -> None:
    """Each data set's sizes counted from the run's index (``datasets.*.counted``, which
    ``cost.dataset_sizes`` prefers to its config-only estimate): classes, train/debug/test
    rows and every listed row."""
    import json

    for name, entry in config["datasets"].items():
        index = run / "results" / name / "data" / "index.parquet"
        if not index.is_file():
            continue
        splits = pd.read_parquet(index, columns=["split"])["split"].value_counts()
        classes = json.loads((index.parent / "classes.json").read_text())
        entry["counted"] = {"classes": len(classes), "train": int(splits.get("train", 0)),
                            "debug": int(splits.get("val", 0)), "test": int(splits.get("test", 0)),
                            "listed": int(splits.sum())}


def run_dir(path: Path) -> Path:
    """The run's working directory from it or its ``results`` folder."""
    for candidate in (path, path.parent):
        if (candidate / "benchmarks" / "runs").is_dir():
            return candidate
    raise SystemExit(f"cost_check: no benchmarks/runs under {path} or its parent: "
                     "give the directory a workflow run was made in (or its results folder)")


def jobs_of(runs: Path, config: dict) -> list[dict]:
    """One row per benchmarked job: rule, dataset, model, measured seconds and peak GB."""
    rows = []
    for tsv in sorted(runs.rglob("*.tsv")):
        parts = tsv.relative_to(runs).parts
        rule, dataset, model = tsv.stem, parts[0], None
        if re.fullmatch(r"\d+of\d+", rule):  # a shard job: {rule}_shard/{shard}.tsv
            rule = tsv.parent.name
        if len(parts) >= 3 and parts[1] in config["models"]:
            model = parts[1]
        elif len(parts) >= 3 and parts[1] == "spurious":
            rule = "spurious_clip_features" if rule == "clip_features" else "spurious_train"
        table = pd.read_csv(tsv, sep="\t")
        rows.append({"rule": rule, "dataset": dataset, "model": model, "job": "/".join(parts),
                     "s": float(table["s"].max()), "rss_gb": float(table["max_rss"].max()) / 1000,
                     "cpu_s": float(table["cpu_time"].max()) if "cpu_time" in table else float("nan")})
    if not rows:
        raise SystemExit(f"cost_check: no benchmark TSVs under {runs}: the run has not finished a job")
    return rows


def project_seconds(job: dict, config: dict, cpu: dict, start_s: float) -> float:
    """Projected wall seconds of one job on this CPU (one thread): start-up plus its work."""
    rule, dataset, model = job["rule"], job["dataset"], job["model"]
    cpu_dev = {"forward_tflops": {}, "forward_tflops_default": cpu["forward_gflops"] / 1e3,
               "sd_images_per_s": 1e9, "head_tflops": cpu["head_gflops"] / 1e3,
               "pcie_gb_per_s": 1e9, "memory_gb": float(config["memory"]["host_gb"])}
    if rule in HEAD_JOBS:
        return start_s + cost.head_job(rule, config, dataset, model, cpu_dev, cuda=False)[1]
    if rule in ("extract_features", "generated_features", "cross_features", "collect_failures",
                "clip_debug_features", "assign_backgrounds", "spurious_clip_features",
                "score_generated_images", "train_backbone", "train_clip", "spurious_train"):
        return start_s + 3600 * cost.job_hours(rule, config, dataset, model, 1, 1.0, cpu, cpu_dev)
    return start_s


DENSE_S = 15.0  # Snakemake samples every 0.5 s this long, then every 30 s


def lower_bound(job: dict) -> bool:
    """Whether a job's measured peak is only a lower bound (sampled 30 s apart after 15 s)."""
    return job["s"] > DENSE_S


def job_ratio(job: dict) -> float:
    """How far the projected peak is from the measured one (one-sided where it is a lower bound)."""
    under = job["rss_gb"] / job["proj_gb"]
    if lower_bound(job):
        return max(1.0, under)
    return max(under, 1 / under)


def check(jobs: list[dict], config: dict, cpu: dict,
          bases: dict[str, tuple[float, float]], train_act: dict[str, float] | None = None
          ) -> tuple[pd.DataFrame, float]:
    """Per rule: jobs, projected and measured seconds (longest job), peak GB (the job with the
    largest measured peak) and how many jobs' measured peaks are only lower bounds; and R."""
    by_rule: dict[str, list[dict]] = defaultdict(list)
    for job in jobs:
        base_gb, start_s = bases[import_set(job["rule"], config)]
        # one decoding worker per CPU beyond the job's one torch thread (data.image_batches
        # .default_workers on the CPU): a forked process, its RSS about a torch process's;
        # none where the demo's data set images are .npy rows, sliced without decoding
        arrays = (config["datasets"][job["dataset"]]["kind"] == "demo"
                  and job["rule"] in ("extract_features", "clip_debug_features", "spurious_clip_features"))
        if job["rule"] == "generate_collective":  # diffusers is imported only to make images
            base_gb, start_s = bases["torch"]
        host = {"base_gb": base_gb, "cuda_gb": 0.0, "worker_gb": 0.0 if arrays else bases["torch"][0],
                "train_act_m": train_act or {},
                # Snakemake sums the RSS of the job's processes: a forked decoding worker shares
                # its parent's pages, and is counted again at the parent's size
                "fork_rss": not arrays}
        rule, dataset, model = job["rule"], job["dataset"], job["model"]
        if cost.SAME_WORK_AS.get(rule, rule) in HEAD_JOBS:
            peak = cost.head_job(cost.SAME_WORK_AS.get(rule, rule), config, dataset, model, host=host, cuda=False)[2]
        else:
            # collective sets reuse the individual sets' images (as cost.job_hours has it): no pipeline
            peak = cost.job_memory_gb(rule, config, dataset, model, CPUS, 1.0, cuda=False, host=host,
                                      makes_images=rule != "generate_collective")
        job["proj_gb"] = peak or base_gb  # a rule the model does not size: its base process
        job["proj_s"] = project_seconds(job, config, cpu, start_s)
        by_rule[rule].append(job)
    rows = []
    for rule, jobs in sorted(by_rule.items()):
        big = max(jobs, key=lambda j: j["rss_gb"])  # the rule's measured peak: its best lower bound
        slow = max(jobs, key=lambda j: j["s"])
        ratio = job_ratio(big)
        gap = sum(lower_bound(j) for j in jobs)
        rows.append({"rule": rule, "jobs": len(jobs), "proj_s": slow["proj_s"], "meas_s": slow["s"],
                     "time_ratio": slow["proj_s"] / slow["s"], "meas_cpu_s": slow["cpu_s"],
                     "cpu_ratio": slow["proj_s"] / slow["cpu_s"], "proj_gb": big["proj_gb"],
                     "meas_gb": big["rss_gb"], "mem_ratio": ratio, "lower_bound_jobs": gap,
                     "base": "torch" if rule == "generate_collective" else import_set(rule, config)})
    table = pd.DataFrame(rows).set_index("rule")
    return table, float(table["mem_ratio"].max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="the run's directory (or its results folder)")
    parser.add_argument("--config", type=Path, help="the run's config (default RUN/config.yaml)")
    parser.add_argument("--limit", type=float, default=1.5, help="largest allowed memory ratio")
    parser.add_argument("--skip-measure", action="store_true",
                        help="use cost.CPU's throughputs instead of measuring them (time only)")
    args = parser.parse_args(argv)
    run = run_dir(args.run)
    config_path = args.config or run / "config.yaml"
    if not config_path.is_file():
        raise SystemExit(f"cost_check: no config at {config_path}; pass --config")
    config = paper_scale.load_config(config_path)
    cpu = dict(cost.CPU)
    if not args.skip_measure:
        measured = paper_scale.measure_cpu()
        cpu.update({k: v for k, v in measured.items() if k in cpu})
    count_sizes(run, config)
    jobs = jobs_of(run / "benchmarks" / "runs", config)
    kinds = {import_set(j["rule"], config) for j in jobs}
    kinds = sorted(kinds | {"torch"})  # torch: the size of a decoding worker
    bases = {kind: measure_base(kind) for kind in kinds}
    print(f"Cost model vs the run in {run} (config {config_path}), projected on this CPU.")
    basis = "cost.CPU, assumed" if args.skip_measure else "measured now"
    print(f"CPU profile ({basis}): " + ", ".join(f"{k} {v:.4g}" for k, v in cpu.items()))
    print("Job base processes (measured now: peak RSS GB, import s): "
          + ", ".join(f"{k} {gb:.2f} GB {s:.1f} s" for k, (gb, s) in bases.items()))
    print()
    train_act = train_activations(config) if {"train_backbone", "train_clip"} & {j["rule"] for j in jobs} else {}
    if train_act:
        print("Training activations kept per image (M elements, counted on the meta device): "
              + ", ".join(f"{k} {v:.3f}" for k, v in train_act.items()))
    table, worst = check(jobs, config, cpu, bases, train_act)
    print(table.to_string(float_format=lambda v: f"{v:.2f}"))
    print()
    print(f"worst ratio {worst:.2f}")
    return 0 if worst <= args.limit else 1


if __name__ == "__main__":
    sys.exit(main())
