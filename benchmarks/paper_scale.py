"""What the ``paper`` target costs on a config: jobs, images or FLOPs, GPU hours and memory per rule.

    .venv/bin/python benchmarks/paper_scale.py config/imagenet.yaml [--skip-measure]

Jobs and each job's declared ``mem_mb``/``runtime``/``threads`` come from the workflow
itself (``snakemake -n --forceall paper --configfile CONFIG``, a few seconds, no data).
Work per job comes from ``clipmend.cost``: counted FLOPs per model, images per set, the
sharing of generated images through the content-addressed store (each distinct image is
generated once; the random set is identical across models; individual and collective
sets share a class's backgrounds, see ``cost.generation``), features extracted once per
model image (cross_features only for images the model has not featurised), and head
training as full-batch matmuls (4·N·D·C FLOPs per head and epoch), and each GPU job's
start-up (Snakemake in the job, the script's imports, the CUDA context, the weights read:
``job_start_s``), shown in its own column.

GPU throughputs are ``cost.GPU`` constants, marked ``assumed`` unless ``--gpu-json FILE``
gives measured ones (same keys). CPU throughputs (image decoding, head training on one
thread, backbone forwards) are measured in this run unless ``--skip-measure``; they
drive the CPU rules and the decoding share of extraction jobs. Memory: each job's
projected peak host memory (``cost.job_memory_gb``) against its declared ``mem_mb``.
The last line printed is ``gpu_hours N`` for the whole target.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # this checkout's clipmend (``import clipmend`` is cheap)

from clipmend import cost  # noqa: E402
from clipmend.config import resolve_models  # noqa: E402

# Start-up of one GPU job, before its work: Snakemake inside the job (it parses the workflow and
# config: ``snakemake --list-rules``), the job's script importing what its rule imports
# (``IMPORTS``), both CPU seconds measured in this run (``--skip-measure``: the figures below,
# measured on the 2-core dev VM on 2026-12-07, warm page cache); the CUDA context (PyTorch's
# lazy module loading, CUDA >= 12.2 default: ~1-3 s, the upper end taken; assumed, gpu_smoke.py
# measures it on a card) and the weights read from the file system at FS_GB_PER_S (assumed: a
# shared file system, 0.5 GB/s per client). The libraries are read once per node (page cache).
START_CPU_S = {"snakemake": 2.9, "light": 1.0, "torch": 2.9, "timm": 6.0, "open_clip": 6.7,
               "diffusers": 6.8}
CUDA_START_S = 3.0
FS_GB_PER_S = 0.5
# The start-up the previous cost model assumed per GPU job (rounded up; printed for comparison)
ASSUMED_JOB_OVERHEAD_S = 60.0
# What each rule's script imports (its base process): the rest import timm.
# (clipmend's step modules import torch; timm, open_clip and diffusers load with a model.)
IMPORTS = {
    "light": "pandas, pyarrow.parquet, PIL.Image",
    "torch": "clipmend._torchvision_fix, torch, pandas, pyarrow.parquet",
    "timm": "clipmend._torchvision_fix, timm, pandas, pyarrow.parquet",
    "open_clip": "clipmend._torchvision_fix, timm, open_clip, pandas, pyarrow.parquet",
    "diffusers": "clipmend._torchvision_fix, timm, open_clip, diffusers, pandas, pyarrow.parquet",
}
RULE_IMPORTS = {
    "prepare_data": "light",
    # head training and failure collection: torch only (timm comes with a backbone)
    **{rule: "torch" for rule in ("collect_failures", *cost.HEAD_RULES)},
    "clip_debug_features": "open_clip",
    "train_clip": "open_clip",
    "assign_backgrounds": "open_clip",
    "spurious_clip_features": "open_clip",
    "spurious_train": "open_clip",
    "spurious_aiou": "open_clip",
    "score_generated_images": "open_clip",
    "score_collective_images": "torch",  # open_clip too only when a family image is new (none on the demo)
    "filter_images": "light",
    "filter_collective": "light",
    "generation_variant_seeds": "torch",
}


def import_set(rule: str, config: dict) -> str:
    """The import set of a rule's jobs."""
    if rule.removesuffix("_shard") in ("generate_images", "generate_collective", "edit_images"):
        return "diffusers" if config["generator"].get("backend") == "diffusers" else "torch"
    return RULE_IMPORTS.get(rule, "timm")


def measure_base(kind: str) -> tuple[float, float]:
    """(peak RSS GB, import seconds) of a job's base process that imports ``IMPORTS[kind]``."""
    gb, wall, _ = measure_imports(kind)
    return gb, wall


def measure_imports(kind: str) -> tuple[float, float, float]:
    """(peak RSS GB, wall s, CPU s) of a process importing ``snakemake.script`` and ``IMPORTS[kind]``."""
    # VmHWM, not ru_maxrss: the latter keeps a forking parent's peak across exec
    code = ("import time, resource; t = time.perf_counter(); import re, snakemake.script, "
            f"{IMPORTS[kind]}; s = time.perf_counter() - t; "
            "u = resource.getrusage(resource.RUSAGE_SELF); "
            "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
            "print(hwm, s, u.ru_utime + u.ru_stime)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO)
    rss_kb, seconds, cpu_s = out.stdout.split()[-3:]
    return int(rss_kb) * 1024 / 1e9, float(seconds), float(cpu_s)


def measure_start(config_path: Path, kinds: list[str]) -> dict[str, float]:
    """CPU seconds of Snakemake parsing the workflow with ``config_path``, and of each import set."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([str(Path(sys.executable).parent / "snakemake"), "--list-rules", "--configfile",
                    str(config_path), "-s", str(REPO / "Snakefile"), "-d", str(REPO)],
                   capture_output=True, check=True, cwd=REPO)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = {"snakemake": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime}
    out.update({kind: measure_imports(kind)[2] for kind in kinds})
    return out


def job_start_s(rule: str, config: dict, model: str | None, start: dict[str, float]) -> float:
    """Seconds one GPU job of ``rule`` spends starting (see ``START_CPU_S``)."""
    weights_gb = 0.0
    if rule in ("extract_features", "generated_features", "cross_features") and model:
        weights_gb = 4 * cost.profile(config["models"][model])[3] / 1e3  # float32
    elif rule in ("clip_debug_features", "assign_backgrounds", "spurious_clip_features", "score_generated_images"):
        weights_gb = 4 * cost.profile(config["clip"])[3] / 1e3
    elif import_set(rule, config) == "diffusers":
        weights_gb = cost.SD_GPU_GB  # float16
    return start["snakemake"] + start[import_set(rule, config)] + CUDA_START_S + weights_gb / FS_GB_PER_S


SLURM_PROFILE = REPO / "profiles" / "slurm" / "config.yaml"




def load_config(path: Path) -> dict:
    """The config with the schema's defaults filled in (as the workflow sees it)."""
    from snakemake.utils import validate

    config = resolve_models(yaml.safe_load(path.read_text()))
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"), set_default=True)
    return config


def local_rules() -> set[str]:
    """Rules that run on the submit host (``localrule: True``)."""
    names = set()
    for smk in (REPO / "workflow/rules").rglob("*.smk"):
        for block in re.split(r"\n(?=rule )", smk.read_text()):
            match = re.match(r"rule (\w+):", block)
            if match and re.search(r"^\s+localrule:\s*True", block, re.M):
                names.add(match.group(1))
    return names


def dry_run_jobs(config_path: Path, gpu: str | None = None) -> list[dict]:
    """Every job of ``paper``: rule, wildcards, threads and evaluated resources (attempt 1).

    ``gpu``: the card kind the rules declare their runtime for (config ``cluster.gpu``).
    """
    cmd = [str(Path(sys.executable).parent / "snakemake"), "-n", "--forceall", "paper",
           "--configfile", str(config_path), "-s", str(REPO / "Snakefile"), "-d", str(REPO)]
    if gpu:
        cmd += ["--config", f"cluster={{gpu: {gpu}}}"]
    threads = (yaml.safe_load(SLURM_PROFILE.read_text()) or {}).get("set-threads") or {}
    if threads:  # the cluster run's threads (snakemake --profile slurm paper)
        # threads above --cores are capped in a local dry run (not on SLURM): give it enough
        cmd += ["--cores", "64", "--set-threads", *(f"{rule}={n}" for rule, n in threads.items())]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if out.returncode:
        raise RuntimeError(f"dry run failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    jobs, job = [], None
    for line in out.stdout.splitlines():
        match = re.match(r"^(?:local)?rule (\w+):$", line.strip())
        if match:
            job = {"rule": match.group(1), "wildcards": {}, "resources": {}, "threads": 1}
            jobs.append(job)
            continue
        if job is None:
            continue
        key, _, value = line.strip().partition(": ")
        if key == "wildcards":
            job["wildcards"] = dict(kv.split("=", 1) for kv in value.split(", "))
        elif key == "resources":
            job["resources"] = dict(kv.split("=", 1) for kv in value.split(", ") if "=" in kv)
        elif key == "threads":
            job["threads"] = int(value)
    return jobs


# --- CPU measurements (a few seconds each) ---------------------------------------------------


def fix_torchvision() -> None:
    """The torchvision fix, before timm or open_clip import torchvision (``import clipmend`` is cheap)."""
    import clipmend._torchvision_fix  # noqa: F401


def measure_cpu() -> dict[str, float]:
    """Per-core CPU throughputs on this machine, one torch thread.

    Timed in the process's CPU seconds (``time.process_time``), not wall time: on a shared
    machine a busy core would otherwise count as a slow one.
    """
    fix_torchvision()
    import numpy as np
    import timm
    import timm.data
    import torch
    from PIL import Image

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    out: dict[str, float] = {}

    def photo(w: int, h: int) -> Image.Image:
        y, x = np.mgrid[0:h, 0:w] / max(w, h)
        waves = [np.sin(2 * np.pi * (a * x + b * y)) for a, b in rng.uniform(1, 12, (3, 2))]
        pixels = (np.stack(waves, -1) * 100 + 128 + rng.normal(0, 8, (h, w, 3))).clip(0, 255)
        return Image.fromarray(pixels.astype(np.uint8))

    transform = timm.data.create_transform(input_size=(3, 224, 224), crop_pct=0.875,
                                           interpolation="bicubic")
    for kind, size, fmt in (("jpeg", (500, 375), "JPEG"), ("png", (512, 512), "PNG")):
        blobs = []
        for _ in range(4):
            buf = io.BytesIO()
            photo(*size).save(buf, format=fmt, quality=90)
            blobs.append(buf.getvalue())
        n, start = 0, time.process_time()
        while time.process_time() - start < 1.5:
            transform(Image.open(io.BytesIO(blobs[n % 4])).convert("RGB"))
            n += 1
        out[f"decode_{kind}_per_s"] = n / (time.process_time() - start)
    with torch.no_grad():
        for arch in ("resnet50", "vit_base_patch32_224"):
            model = timm.create_model(arch, pretrained=False, num_classes=0).eval()
            x = torch.randn(32, 3, 224, 224)
            model(x[:2])
            start = time.process_time()
            model(x)
            out[f"{arch}_b32_images_per_s"] = 32 / (time.process_time() - start)
    out["forward_gflops"] = out["resnet50_b32_images_per_s"] * cost.PROFILES["resnet50"][1]
    n, d, c = 4096, 512, 1000  # one full-batch head step: logits and the weight gradient
    xs, ys = torch.randn(n, d), torch.randint(0, c, (n,))
    w = torch.zeros(c, d, requires_grad=True)
    steps, start = 0, time.process_time()
    while time.process_time() - start < 1.5:
        torch.nn.functional.cross_entropy(xs @ w.T, ys).backward()
        steps += 1
    # the features need no gradient: 4·N·D·C per step, as cost.head_flops counts it
    out["head_gflops"] = steps * cost.HEAD_FLOPS_PER_NDC * n * d * c / (time.process_time() - start) / 1e9
    out["finetune_step_s"] = finetune_step_seconds()
    return out


def finetune_step_seconds(rows: int = 1800, batch: int = 128, epochs: tuple[int, int] = (2, 10)) -> float:
    """CPU seconds per step of clipmend's fine-tuning of CLIP's projections with ours_ls's four
    losses (the slowest method) on cached features of the demo's shape (6 classes, 10 attribute
    prompts, 2 templates, width 128): the per-step dispatch ``cost.spurious_train_hours`` counts.
    Two runs of ``epochs`` after an untimed warm-up run; their difference per step leaves out what
    a run does once (copies, first calls)."""
    import torch

    from clipmend.spurious.finetune import FinetuneSettings, GroupedFeatures, finetune
    from clipmend.spurious.projections import Projections

    gen = torch.Generator().manual_seed(0)
    width, classes, attributes, templates = 128, 6, 10, 2
    labels = torch.randint(0, classes, (rows,), generator=gen)
    present = torch.randint(0, 2, (rows,), generator=gen)
    split = GroupedFeatures(torch.randn(rows, width, generator=gen), labels, present, 2 * labels + present)
    class_pre = torch.randn(classes, templates, width, generator=gen)
    attribute_pre = torch.randn(attributes, templates, width, generator=gen)
    projections = Projections(torch.randn(width, 64, generator=gen), torch.randn(width, 64, generator=gen),
                              torch.tensor(2.3))
    seconds = []
    for n in (1, *epochs):
        settings = FinetuneSettings(lr=0.01, epochs=n, batch_size=batch, init_temperature=None,
                                    weights={"clip": 1.0, "vc": 1.0, "lc": 1.0, "ls": 1.0})
        start = time.process_time()
        finetune(projections, split, split, class_pre, attribute_pre, settings, progress=False)
        seconds.append(time.process_time() - start)
    return (seconds[2] - seconds[1]) / ((epochs[1] - epochs[0]) * -(-rows // batch))


def base_rss_gb() -> float:
    """Peak RSS (GB) of a process that imports what the rules import."""
    code = ("import resource, clipmend._torchvision_fix, timm, open_clip, pandas, pyarrow.parquet; "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) * 1024 / 1e9


# --- projection ------------------------------------------------------------------------------


def head_declared_gb(config: dict, held_gb: float, attempt: int = 1) -> float:
    """What common.smk's input-sized ``get_head_mem_mb`` gives once the inputs exist (GB)."""
    host_gb = float((config.get("memory") or {}).get("host_gb", 16))
    device = str(config.get("device", "auto"))
    return cost.head_job_mem_mb(held_gb * 1000, device, host_gb, attempt) / 1000


def gpu_peak_gb(rule: str, config: dict, dataset: str, model: str | None, gpu: dict,
                held_gb: float = 0.0) -> float:
    """Projected GPU memory peak (GB) of one job on the card ``gpu`` (0: the job uses none)."""
    card = {**config, "cluster": {**(config.get("cluster") or {})}}
    if rule in ("extract_features", "generated_features", "cross_features"):
        entry = config["models"][model]
        return cost.feature_device_gb(entry, cost.feature_batch_size(config, entry, gpu["memory_gb"]))
    if rule in ("clip_debug_features", "score_generated_images"):
        return cost.feature_device_gb(config["clip"], cost.feature_batch_size(config, config["clip"],
                                                                              gpu["memory_gb"]))
    if rule in ("generate_images", "generate_collective"):
        return cost.sd_device_gb(config) if config["generator"].get("backend") == "diffusers" else 0.0
    if rule in cost.HEAD_RULES:  # the planner keeps its chunks within the budget
        return cost.CUDA_CONTEXT_GB + min(cost.head_budget_gb(card, gpu), held_gb)
    if rule == "collect_failures":
        entry = config["models"][model]
        if cost.has_own_head(entry, config["datasets"][dataset]):
            return 0.0
        sizes = cost.dataset_sizes(config["datasets"][dataset])
        features = sizes["train"] * cost.profile(entry)[2] * 4 / cost.GB
        return cost.CUDA_CONTEXT_GB + min(cost.head_budget_gb(card, gpu), features)
    return 0.0


def project(config: dict, jobs: list[dict], cpu: dict, gpu: dict, fill: float,
            start: dict[str, float] | None = None) -> list[dict]:
    start = start or START_CPU_S
    locals_ = local_rules()
    by_rule: dict[str, list[dict]] = defaultdict(list)
    for job in jobs:
        by_rule[job["rule"]].append(job)
    rows = []
    for rule, rjobs in by_rule.items():
        row = {"rule": rule, "jobs": len(rjobs), "unit": "-", "units": 0.0, "where": "local",
               "h_max": 0.0, "runtime_h": None, "gpu_h": 0.0, "cpu_h": 0.0, "peak": 0.0,
               "declared": None, "ok": "local", "gpu_gb": 0.0, "start_h": 0.0, "assumed_start_h": 0.0}
        if rule in locals_ or rule == "paper":
            rows.append(row)
            continue
        row["where"] = "gpu" if any(int(j["resources"].get("gpu", 0)) for j in rjobs) else "cpu"
        if rule in cost.HEAD_RULES:
            row["where"] = "gpu"  # chunked on the run's device (clipmend.debugging.heads)
        first = True
        for job in rjobs:
            wc, threads = job["wildcards"], job["threads"]
            dataset, model = wc.get("dataset"), wc.get("model")
            gen = cost.generation(config, dataset, fill) if dataset else {}
            files_gb = 0.0
            if rule in cost.HEAD_RULES:
                flops, seconds, peak, files_gb = cost.head_job(rule, config, dataset, model, gpu)
                row["unit"], row["units"] = "FLOPs", row["units"] + flops
                hours = seconds / 3600
            else:
                # collective sets draw on the backgrounds the individual sets already cover
                hours = cost.job_hours(rule, config, dataset, model, threads, fill, cpu, gpu,
                                       first and not rule.startswith("generate_collective"))
                makes = rule == "generate_images_shard" or (  # the rule whose jobs generate
                    rule == "generate_images" and cost.generation_shards(config, dataset, gpu=gpu) == 1)
                peak = cost.job_memory_gb(rule, config, dataset, model, threads, fill)
                sizes = cost.dataset_sizes(config["datasets"][dataset])
                unit, units = {
                    "prepare_data": ("files indexed", sizes["listed"]),
                    "extract_features": ("images", sizes["train"] + sizes["debug"] + sizes["test"]),
                    "clip_debug_features": ("images", sizes["debug"]),
                    "collect_failures": ("head FLOPs", 0.0 if rule != "collect_failures"
                                         or cost.has_own_head(config["models"][model], config["datasets"][dataset])
                                         else hours * 3600 * gpu["head_tflops"] * 1e12),
                    "propose_backgrounds": ("LLM requests", sizes["classes"]),
                    "assign_backgrounds": ("text prompts", sizes["classes"]
                                           * cost.backgrounds_per_class(config)),
                    "generate_images": ("new images", (gen.get("individual_union", 0)
                                                       + gen.get("random_union", 0)) if first and makes else 0),
                    "generate_collective": ("new images", 0),
                    "generate_images_shard": ("new images", (gen.get("individual_union", 0)
                                                             + gen.get("random_union", 0)) if first else 0),
                    "generate_collective_shard": ("new images", 0),
                    "generated_features": ("images", 2 * gen.get("per_set", 0)),
                    "score_generated_images": ("images", cost.distinct_generated(gen) if gen else 0),
                    "cross_features": ("images", max(0.0, gen.get("individual_union", 0)
                                                     - gen.get("per_set", 0))),
                }.get(rule, ("-", 0))
                row["unit"], row["units"] = unit, row["units"] + units
                if makes and first:  # every distinct image, once
                    total = units * cost.sd_seconds(1, config, gpu) / 3600
                    row["gpu_h"] += total - hours  # the rest is spread over later jobs
                first = False
            if row["where"] == "gpu":
                starting = job_start_s(rule, config, model, start) / 3600
                row["start_h"] += starting
                row["assumed_start_h"] += ASSUMED_JOB_OVERHEAD_S / 3600
                hours += starting
                row["gpu_h"] += hours
            else:
                row["cpu_h"] += hours
            declared = job["resources"].get("mem_mb", "0")
            if declared == "<TBD>":  # sized from the job's inputs when it is scheduled
                declared = head_declared_gb(config, files_gb)
                row["input_sized"] = True
            else:
                declared = float(declared) / 1000
            if dataset:
                row["gpu_gb"] = max(row["gpu_gb"], gpu_peak_gb(rule, config, dataset, model, gpu, files_gb))
            if row["declared"] is None or peak > row["peak"]:  # the job with the largest peak
                row["peak"], row["declared"] = peak, declared
            runtime = float(job["resources"].get("runtime", 0)) / 60
            if row["runtime_h"] is None or hours >= row["h_max"]:  # the longest job's
                row["runtime_h"] = runtime
            row["h_max"] = max(row["h_max"], hours)
            row["under"] = row.get("under", 0) + (peak > declared)
            row["late"] = row.get("late", 0) + (hours > runtime)
        row["ok"] = "OK" if not row["under"] else f"UNDER ({row['under']} jobs)"
        row["time"] = "OK" if not row["late"] else f"UNDER ({row['late']} jobs)"
        row["card"] = "OK" if row["gpu_gb"] <= gpu["memory_gb"] else "OVER"
        rows.append(row)
    return rows


def fmt(value: float) -> str:
    if value == 0:
        return "0"
    if value >= 1e6:
        return f"{value:.3g}"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2g}" if value < 1 else f"{value:.1f}"


def table(rows: list[dict], gpu_basis: str, cpu_basis: str) -> str:
    head = ("| rule | jobs | unit | units | runs on | h/job (max) | its runtime h | time "
            "| GPU h | of which start-up | CPU h | basis | peak GB (max job) | its mem GB | memory "
            "| GPU GB (max job) | card |")
    lines = [head, "|" + " --- |" * 17]
    for r in sorted(rows, key=lambda r: (r["where"] == "local", -r["gpu_h"], -r["cpu_h"], r["rule"])):
        basis = gpu_basis if r["where"] == "gpu" else cpu_basis if r["where"] == "cpu" else "-"
        declared = "-" if r["declared"] is None else fmt(r["declared"])
        if r.get("input_sized"):
            declared += " (from inputs)"
        runtime = "-" if r["runtime_h"] is None else fmt(r["runtime_h"])
        lines.append(f"| {r['rule']} | {r['jobs']} | {r['unit']} | {fmt(r['units'])} | {r['where']} "
                     f"| {fmt(r['h_max'])} | {runtime} | {r.get('time', r['ok'])} "
                     f"| {fmt(r['gpu_h'])} | {fmt(r['start_h'])} | {fmt(r['cpu_h'])} "
                     f"| {basis} | {fmt(r['peak'])} | {declared} | {r['ok']} "
                     f"| {fmt(r['gpu_gb'])} | {r.get('card', '-')} |")
    return "\n".join(lines)


def count_models(config: dict) -> None:
    """Recount ``cost.PROFILES`` for the config's models on the meta device (~30 s for 40)."""
    fix_torchvision()
    import timm
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import clipmend.models.resnet_wide  # noqa: F401 - registers the SwAV wide ResNets
    from clipmend.clip.loading import register_local_configs

    register_local_configs()  # clipmend's own open_clip architectures (the demo's clipmend-tiny)

    for entry in list(config["models"].values()) + [config["clip"]]:
        with torch.device("meta"):
            if entry.get("source") == "open_clip" or entry is config["clip"]:
                from open_clip.factory import get_model_config
                from open_clip.model import CLIP

                model = CLIP(**get_model_config(entry["arch"])).visual
                size = model.image_size if isinstance(model.image_size, int) else model.image_size[0]
            else:
                model = timm.create_model(entry["arch"], pretrained=False, num_classes=0)
                size = model.pretrained_cfg.get("input_size", (3, 224, 224))[-1]
            with FlopCounterMode(display=False) as counter, torch.no_grad():
                out, peak, _ = leaf_outputs(model, torch.empty(1, 3, size, size))
                dim = out.shape[-1]
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f'    "{entry["arch"]}": ({size}, {counter.get_total_flops() / 1e9:.2f}, {dim}, '
              f"{params:.1f}, {peak / 1e6:.1f}),")


def leaf_outputs(model, *inputs):
    """(output, largest leaf module's input + output, sum of leaf modules' outputs) of one forward,
    in elements (on the meta device: nothing is computed)."""
    import torch

    peak, total = [0], [0]

    def numel(value) -> int:
        if torch.is_tensor(value):
            return value.numel()
        return sum(numel(v) for v in value) if isinstance(value, (tuple, list)) else 0

    def hook(_, args, output):
        peak[0] = max(peak[0], numel(args) + numel(output))
        total[0] += numel(output)

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        out = model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return out, peak[0], total[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--skip-measure", action="store_true",
                        help="use cost.CPU's assumed CPU figures instead of measuring (seconds)")
    parser.add_argument("--gpu", choices=sorted(cost.GPUS),
                        help="the card kind to project for (default: the config's cluster.gpu)")
    parser.add_argument("--gpu-json", type=Path, help="measured GPU figures (keys of cost.GPUS[kind])")
    parser.add_argument("--fill", type=float, default=1.0,
                        help="share of the classes x k background slots filled (1: upper bound)")
    parser.add_argument("--count-models", action="store_true",
                        help="recount the per-model FLOPs/dims table on the meta device and exit")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if args.count_models:
        count_models(config)
        return
    if args.gpu:
        config.setdefault("cluster", {})["gpu"] = args.gpu
    gpu, gpu_basis = dict(cost.gpu_kind(config)), "public"
    if args.gpu_json:
        gpu.update(json.loads(args.gpu_json.read_text()))
        gpu_basis = "measured"
    cpu, cpu_basis, measured = dict(cost.CPU), "assumed", {}
    if not args.skip_measure:
        measured = measure_cpu()
        measured["base_rss_gb"] = base_rss_gb()
        cpu.update({k: v for k, v in measured.items() if k in cpu})
        cpu_basis = "measured"
    jobs = dry_run_jobs(args.config, args.gpu)
    start, start_basis = dict(START_CPU_S), "measured 2026-12-07 on the dev VM"
    if not args.skip_measure:
        kinds = sorted({import_set(j["rule"], config) for j in jobs})
        start.update(measure_start(args.config, kinds))
        start_basis = "measured now"
    rows = project(config, jobs, cpu, gpu, args.fill, start)
    gen = {d: cost.generation(config, d, args.fill) for d in config["datasets"]}
    print(f"Paper target of {args.config}: {len(jobs)} jobs; GPU: one {gpu['name']} ({gpu_basis}).")
    print()
    print("| throughput | value | basis |")
    print("| --- | --- | --- |")
    for key, value in cpu.items():
        print(f"| CPU {key} (1 core) | {value:.4g} | {cpu_basis} |")
    for key in ("resnet50_b32_images_per_s", "vit_base_patch32_224_b32_images_per_s", "base_rss_gb"):
        if key in measured:
            print(f"| CPU {key} (1 thread) | {measured[key]:.2f} | measured |")
    for family, tflops in gpu["forward_tflops"].items():
        print(f"| GPU forward TFLOP/s, {family} (AMP, batch 256) | {tflops:g} | {gpu_basis} |")
    print(f"| GPU SD v1.5 images/s (512 px, 50 steps, fp16, batch 4) | {gpu['sd_images_per_s']:g} "
          f"| {gpu_basis} |")
    opts = config["generator"].get("options") or {}
    print(f"| generation setting: scheduler, steps | {opts.get('scheduler', 'pipeline default')}, "
          f"{cost.sd_steps(config)} | config |")
    print(f"| GPU head matmul TFLOP/s (TF32) | {gpu['head_tflops']:g} | {gpu_basis} |")
    print()
    for d, g in gen.items():
        print(f"Generated images ({d}): {g['per_set']:,.0f} per set, {g['sources']} individual + "
              f"collective sets; distinct: {g['individual_union']:,.0f} individual/collective "
              f"(assumption: all {cost.backgrounds_per_class(config)} LLM backgrounds of a class "
              f"are picked by some model) + {g['random_union']:,.0f} random (the same for every "
              f"model).")
    print()
    print("Per rule: jobs of the dry run; time and host memory of the longest / largest job "
          "against its declared runtime and mem_mb (head rules: features read as float32; "
          "their mem_mb is sized from the inputs when scheduled, shown as that formula gives "
          "it). GPU h include each GPU job's start-up (its own column): Snakemake in the job and "
          "the script's imports (CPU s, " + start_basis + ": " + ", ".join(f"{k} {v:.1f}" for k, v in
                                                                          start.items())
          + f"), the CUDA context ({CUDA_START_S:g} s, assumed) and the weights read at "
          f"{FS_GB_PER_S:g} GB/s (assumed).")
    print()
    print(table(rows, gpu_basis, cpu_basis))
    print()
    total = sum(r["gpu_h"] for r in rows)
    cpu_total = sum(r["cpu_h"] for r in rows)
    batches = {name: cost.feature_batch_size(config, entry, gpu["memory_gb"])
               for name, entry in config["models"].items()}
    small = {n: b for n, b in batches.items() if b < cost.FEATURE_BATCH_MAX}
    if small:
        print(f"Feature batch sizes below {cost.FEATURE_BATCH_MAX} (features.batch_size "
              f"{config['features']['batch_size']}; memory model of each architecture on "
              f"{gpu['memory_gb']:g} GB): " + ", ".join(f"{n} {b}" for n, b in small.items()) + ".")
        print()
    over = [r["rule"] for r in rows if r.get("card") == "OVER"]
    if over:
        print(f"Jobs whose projected GPU peak exceeds the {gpu['memory_gb']:g} GB card: {', '.join(over)}.")
        print()
    starting = sum(r["start_h"] for r in rows)
    assumed = sum(r["assumed_start_h"] for r in rows)
    gpu_jobs = sum(r["jobs"] for r in rows if r["where"] == "gpu")
    print(f"GPU hours: {total - starting:.1f} of work, {starting:.1f} of start-up over {gpu_jobs} "
          f"GPU jobs ({3600 * starting / max(gpu_jobs, 1):.0f} s per job); with the "
          f"{ASSUMED_JOB_OVERHEAD_S:.0f} s per job assumed before: {total - starting + assumed:.1f}.")
    print()
    print(f"max_job_hours {max(r['h_max'] for r in rows):.1f}")
    print(f"cpu_hours {cpu_total:.0f}")
    print(f"gpu_hours {total:.0f}")


if __name__ == "__main__":
    main()
