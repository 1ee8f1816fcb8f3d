"""Cost model of the workflow: images, FLOPs, GPU time and host memory per rule and job.

Pure Python (no torch, numpy or pandas): ``workflow/rules/common.smk`` imports it
to declare ``mem_mb`` and ``runtime`` of the image rules, and
``benchmarks/paper_scale.py`` imports it to project the ``paper`` target, so the
declarations and the projection agree by construction.

Per-model numbers (``PROFILES``) were counted with ``torch.utils.flop_counter`` on the
meta device (``benchmarks/paper_scale.py --count-models`` recounts them): input size,
forward GFLOPs per image (multiply-adds count 2), feature dimension, parameters, and the
largest input+output of one layer (million elements per image, a proxy of activation
memory). GPU throughputs are assumptions (``GPU``) until measured on the target GPU.
"""

from __future__ import annotations

import math
from typing import Any

GB = 1e9

# arch (config ``arch``) -> (input px, GFLOPs/image, feature dim, M params, peak act. M elements)
PROFILES: dict[str, tuple[int, float, int, float, float]] = {
    "resnet18.tv_in1k": (224, 3.63, 512, 11.2, 1.6),
    "resnet26.bt_in1k": (224, 4.68, 2048, 13.9, 1.6),
    "resnet34.tv_in1k": (224, 7.33, 512, 21.3, 1.6),
    "resnet50.tv_in1k": (224, 8.17, 2048, 23.5, 1.6),
    "resnet101.tv_in1k": (224, 15.60, 2048, 42.5, 1.6),
    "resnet152.tv_in1k": (224, 23.02, 2048, 58.1, 1.6),
    "tf_efficientnet_b0.aa_in1k": (224, 0.77, 1280, 4.0, 2.4),
    "tf_efficientnet_b1.aa_in1k": (240, 1.37, 1280, 6.5, 2.8),
    "tf_efficientnet_b2.aa_in1k": (260, 1.98, 1408, 7.7, 3.2),
    "tf_efficientnet_b3.aa_in1k": (300, 3.65, 1536, 10.7, 6.5),
    "tf_efficientnet_b4.aa_in1k": (380, 8.78, 1792, 17.5, 10.4),
    "tf_efficientnet_b5.aa_in1k": (456, 20.53, 2048, 28.3, 15.0),
    "tf_efficientnet_b6.aa_in1k": (528, 38.13, 2304, 40.7, 26.8),
    "tf_efficientnet_b7.aa_in1k": (600, 75.49, 2560, 63.8, 34.6),
    "tf_efficientnet_b8.ra_in1k": (672, 125.19, 2816, 84.6, 43.4),
    "tf_efficientnet_l2.ns_jft_in1k_475": (475, 341.77, 5504, 474.8, 48.9),
    "densenet121.tv_in1k": (224, 5.67, 1024, 7.0, 1.6),
    "densenet161.tv_in1k": (224, 15.45, 2208, 26.5, 2.4),
    "vit_base_patch16_224.augreg_in21k_ft_in1k": (224, 35.13, 768, 85.8, 1.2),
    "vit_base_patch32_224.augreg_in21k_ft_in1k": (224, 8.82, 768, 87.5, 0.3),
    "vit_large_patch16_224.augreg_in21k_ft_in1k": (224, 123.11, 1024, 303.3, 1.6),
    "vit_large_patch32_224.orig_in21k": (224, 30.75, 1024, 305.5, 0.4),
    "vit_small_r26_s32_224.augreg_in21k_ft_in1k": (224, 6.93, 384, 36.0, 1.6),
    "vit_base_r50_s16_384.orig_in21k_ft_in1k": (384, 134.31, 768, 98.2, 4.7),
    "resnet50": (224, 8.17, 2048, 23.5, 1.6),
    "swav_resnet50w2": (224, 32.23, 4096, 93.9, 3.2),
    "swav_resnet50w4": (224, 127.96, 8192, 375.4, 6.4),
    "swav_resnet50w5": (224, 199.64, 10240, 586.5, 8.0),
    "vit_small_patch16_224.dino": (224, 9.20, 384, 21.7, 0.6),
    "vit_base_patch16_224.dino": (224, 35.13, 768, 85.8, 1.2),
    "vit_small_patch8_224.dino": (224, 44.81, 384, 21.7, 2.4),
    "vit_base_patch8_224.dino": (224, 156.30, 768, 85.8, 4.8),
    "ViT-B-32": (224, 8.82, 512, 87.8, 0.3),  # open_clip image towers (embedding dim)
    "ViT-L-14": (224, 162.03, 768, 304.0, 2.1),
    "RN50": (224, 12.22, 1024, 38.3, 1.6),
    "RN50x4": (288, 42.56, 640, 87.1, 3.3),
    "RN101": (224, 19.54, 512, 56.3, 1.6),
    "RN50x16": (384, 149.39, 768, 167.3, 7.1),
}
# an arch not in the table (the demo's small backbones): ResNet-50-sized, a safe default
DEFAULT_PROFILE = (224, 8.17, 2048, 25.0, 1.6)

# The GPU the projection is for, and its assumed throughputs (replace with measurements).
GPU: dict[str, Any] = {
    "name": "NVIDIA A100 40GB SXM",
    "memory_gb": 40.0,
    # effective TFLOP/s of a batch-256 mixed-precision forward, per family: public PyTorch
    # AMP throughputs (ResNet-50 ~2,500 img/s, ViT-B/16 ~1,100 img/s, EfficientNet-B0
    # ~6,000 img/s on an A100) times the counted FLOPs; 312 TFLOP/s is the fp16 peak
    "forward_tflops": {"resnet": 20.0, "densenet": 12.0, "efficientnet": 5.0, "vit": 40.0,
                       "swav": 20.0, "moco": 20.0, "dino": 35.0, "clip": 35.0},
    "forward_tflops_default": 15.0,
    # SD v1.5, 512 px, 50 steps, classifier-free guidance, fp16, SDPA, batch 8: fal.ai
    # measured 31 it/s (1.6 s per image) at batch 1 on an A100 80GB; batching adds ~25%
    "sd_images_per_s": 0.8,
    # head training (TF32 matmuls via clipmend.devices.allow_tf32; 156 TFLOP/s peak)
    "head_tflops": 80.0,
    "pcie_gb_per_s": 20.0,  # host -> device, when a head's features exceed the device budget
}
# CPU figures per core, used where a rule runs on the CPU or decodes images: rounded from
# benchmarks/paper_scale.py's measurements on a 2-core dev VM (it re-measures them each run)
CPU: dict[str, float] = {
    "decode_jpeg_per_s": 100.0,  # 500x375 JPEG -> resized, cropped, normalised 224 px tensor
    "decode_png_per_s": 40.0,  # 512 px generated PNG -> tensor
    "head_gflops": 40.0,  # full-batch head training step, one thread
    "text_gflops": 40.0,  # CLIP text tower, one thread
}

# host memory (GB): a Python process with torch, timm, pandas, pyarrow imported; what a CUDA
# context adds (driver, cuBLAS, cuDNN); the SD v1.5 pipeline in float16 while it loads
BASE_GB = 1.2
CUDA_HOST_GB = 2.5
SD_HOST_GB = 4.0
WORKER_GB = 0.5  # one image-decoding worker process
MANIFEST_ROW_BYTES = 900  # one row of a generated-set manifest in pandas (paths, prompt, ...)
MARGIN = 1.2  # declared = projected peak x MARGIN (at least the rule's floor)

# The LLM's backgrounds per class after de-duplication (config/llm): how many distinct
# backgrounds all models together can pick per class. Not in the paper; gpt-3.5 lists ~10.
BACKGROUNDS_PER_CLASS = 10


def profile(entry: dict[str, Any]) -> tuple[int, float, int, float, float]:
    """A model's (px, GFLOPs, dim, M params, peak activation M) from its config entry."""
    return PROFILES.get(str(entry.get("arch")), DEFAULT_PROFILE)


def dataset_sizes(entry: dict[str, Any]) -> dict[str, int]:
    """Classes, train/debug/test rows, and files listed while indexing, from config alone."""
    kind, opts = entry.get("kind"), dict(entry.get("options") or {})
    if kind == "imagenet":
        classes, train_all, holdout, listed = 1000, 1_281_167, 50_000, 1_331_167
    elif kind in ("cifar10", "cifar100"):
        classes = 10 if kind == "cifar10" else 100
        train_all, holdout, listed = 50_000, 10_000, 60_000
    elif kind == "demo":
        classes = len(opts.get("common_backgrounds") or {}) or 10
        train = classes * int(opts.get("n_train_per_class", 300))
        debug = classes * int(opts.get("n_val_per_class", 200))
        test = classes * int(opts.get("n_test_per_class", 200))
        return {"classes": classes, "train": train, "debug": debug, "test": test,
                "listed": train + debug + test + classes * int(opts.get("n_clip_per_class", 0))}
    else:  # a folder data set: only what the options say
        classes = int(opts.get("classes", 1000))
        train_all, holdout, listed = classes * 1300, classes * 50, classes * 1350
    per_class = opts.get("train_per_class")
    train = train_all if per_class is None else min(train_all, classes * int(per_class))
    debug = min(holdout, int(opts.get("debug_size") or holdout // 2))
    test = holdout - debug if opts.get("test_size") is None else int(opts["test_size"])
    return {"classes": classes, "train": train, "debug": debug, "test": test, "listed": listed}


def has_own_head(entry: dict[str, Any], dataset: dict[str, Any]) -> bool:
    """Whether a model has a classifier over the data set's classes (else failures.head trains one)."""
    if str(entry.get("weights", "pretrained")) == "train":
        return True
    source = entry.get("source", "timm")
    return dataset.get("kind") == "imagenet" and source == "timm" and "in1k" in str(entry["arch"])


def families(config: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(str(m["family"]) for m in config["models"].values()))


def backgrounds_per_class(config: dict[str, Any]) -> int:
    """Distinct backgrounds per class the LLM offers (the demo's table, else an assumption)."""
    table = (config.get("llm", {}).get("options") or {}).get("table")
    if isinstance(table, dict) and table:
        return max(len(v) for v in table.values())
    return BACKGROUNDS_PER_CLASS


def generation(config: dict[str, Any], dataset: str, fill: float = 1.0) -> dict[str, float]:
    """Images of the generated sets, and how many are distinct across the content-addressed store.

    Each set holds up to k backgrounds per class (``fill`` of the class x k slots filled;
    1.0 is the upper bound). An image is keyed by (prompt, seed, class, background), so
    two models that pick the same background of a class share its images, and the random
    set of a class is the same images for every model. Assumption: the models' and
    families' picks together cover all of a class's backgrounds (``backgrounds_per_class``),
    so the union of individual and collective sets is classes x backgrounds x ipb.
    """
    sizes = dataset_sizes(config["datasets"][dataset])
    gen = config["generator"]
    classes, k, ipb = sizes["classes"], int(gen["k"]), int(gen["images_per_background"])
    per_set = classes * k * ipb * fill
    sources = len(config["models"]) + len(families(config))
    union_bg = max(k, min(backgrounds_per_class(config), k * sources))
    individual_union = classes * ipb * union_bg * fill
    return {"per_set": per_set, "individual_union": min(individual_union, sources * per_set),
            "random_union": per_set, "sources": sources}


# --- host memory per job (bytes) -----------------------------------------------------------


def _features_bytes(rows: float, dim: int) -> float:
    """Peak of ``extract`` then ``write_features``: float32 batches + their concatenation."""
    return 8.0 * rows * dim


def _model_bytes(mparams: float) -> float:
    return 2 * 4 * mparams * 1e6  # the state dict and the model, float32


def _batch_bytes(config: dict[str, Any], px: int) -> float:
    batch = int((config.get("features") or {}).get("batch_size", 256))
    return 2 * batch * 3 * px * px * 4.0


def job_memory_gb(rule: str, config: dict[str, Any], dataset: str, model: str | None = None,
                  threads: int = 1, fill: float = 1.0) -> float:
    """Projected peak host memory (GB) of one job of ``rule`` (0 for a rule not modelled)."""
    entry = config["datasets"][dataset]
    sizes = dataset_sizes(entry)
    workers = max(0, min(8, threads - 1)) * WORKER_GB * GB
    gpu_base = (BASE_GB + CUDA_HOST_GB) * GB + workers
    if model is not None:
        px, _, dim, mparams, _ = profile(config["models"][model])
    if rule == "prepare_data":
        return (BASE_GB * GB + sizes["listed"] * 600.0) / GB
    if rule in ("extract_features", "generated_features", "cross_features"):
        rows_all = sizes["train"] + sizes["debug"] + sizes["test"]
        gen = generation(config, dataset, fill)
        base = gpu_base + _model_bytes(mparams) + _batch_bytes(config, px)
        if rule == "extract_features":
            return (base + _features_bytes(rows_all, dim)) / GB
        if rule == "generated_features":  # one set after the other
            return (base + _features_bytes(gen["per_set"], dim)) / GB
        own = 2 * gen["per_set"]
        todo = max(0.0, gen["individual_union"] - gen["per_set"])
        held = 4.0 * (own + todo) * dim  # features of every image the target needs, float32
        transient = max(4.0 * todo * dim, 8.0 * gen["per_set"] * dim)
        manifests = (gen["sources"] - 1) * gen["per_set"] * MANIFEST_ROW_BYTES * 2
        return (base + held + transient + manifests) / GB
    if rule == "collect_failures":
        rows = sizes["train"] + sizes["debug"]
        peak = BASE_GB * GB + 6.0 * rows * dim + 4.0 * sizes["debug"] * dim
        if not has_own_head(config["models"][model], entry):
            peak += 8.0 * sizes["train"] * dim + 16.0 * sizes["train"] * sizes["classes"]
        return peak / GB
    if rule == "clip_debug_features":
        px, _, dim, mparams, _ = profile(config["clip"])
        return (gpu_base + _model_bytes(mparams) + _batch_bytes(config, px)
                + _features_bytes(sizes["debug"], dim)) / GB
    if rule == "assign_backgrounds":
        _, _, dim, mparams, _ = profile(config["clip"])
        texts = sizes["classes"] * backgrounds_per_class(config)
        return (BASE_GB * GB + _model_bytes(mparams) + 6.0 * sizes["debug"] * dim
                + 8.0 * texts * dim) / GB
    if rule.removesuffix("_shard") in ("generate_images", "generate_collective"):
        gen = generation(config, dataset, fill)
        pipeline = SD_HOST_GB if config["generator"].get("backend") == "diffusers" else 0.5
        return (gpu_base + pipeline * GB + 2 * gen["per_set"] * 1000.0) / GB
    if rule == "propose_backgrounds":
        return BASE_GB + 0.5
    return 0.0


def mem_mb(rule: str, config: dict[str, Any], dataset: str, model: str | None = None,
           attempt: int = 1, floor: int = 2000, threads: int = 1) -> int:
    """The ``mem_mb`` a rule declares: projected peak x MARGIN, at least ``floor``, x attempt."""
    peak = job_memory_gb(rule, config, dataset, model, threads) * MARGIN * 1000
    return int(max(floor, 500 * math.ceil(peak / 500))) * int(attempt)


# --- time per job (hours on the GPU, or CPU hours where a rule runs on the CPU) ------------


def forward_seconds(config: dict[str, Any], entry: dict[str, Any], images: float,
                    source: str = "jpeg", threads: int = 1, cpu: dict | None = None,
                    gpu: dict | None = None) -> float:
    """Seconds to embed ``images`` on one GPU: the forward, plus decoding on the job's CPUs.

    Decoding overlaps the forward when the job has decoding workers (threads > 1);
    with one thread it runs in turn with the forward, in the job's own process.
    """
    cpu, gpu = cpu or CPU, gpu or GPU
    _, gflops, _, _, _ = profile(entry)
    family = str(entry.get("family", ""))
    tflops = gpu["forward_tflops"].get(family, gpu["forward_tflops_default"])
    forward = images * gflops / (tflops * 1e3)
    rate = cpu["decode_jpeg_per_s"] if source == "jpeg" else cpu["decode_png_per_s"]
    workers = max(0, min(8, threads - 1))
    decode = images / (rate * max(1, workers))
    return max(forward, decode) if workers else forward + decode


def sd_seconds(images: float, config: dict[str, Any], gpu: dict | None = None) -> float:
    """Seconds of SD generation on one GPU (scaled by steps and pixels from 50 at 512 px)."""
    gpu = gpu or GPU
    opts = config["generator"].get("options") or {}
    scale = (int(opts.get("steps", 50)) / 50) * (int(opts.get("height", 512)) * int(opts.get("width", 512)) / 512**2)
    return images * scale / gpu["sd_images_per_s"]


HEAD_RULES = ("debug_heads", "collective_heads", "lambda_sweep", "k_sweep")


def head_flops(rows_orig: float, gen_rows: list[float], dim: int, classes: int, epochs: int) -> float:
    """Full-batch training FLOPs: forward + backward = 3 x 2·N·D·C per head and epoch."""
    rows = len(gen_rows) * rows_orig + sum(gen_rows)
    return 6.0 * rows * dim * classes * epochs


def head_job(rule: str, config: dict, dataset: str, model: str,
             gpu: dict | None = None) -> tuple[float, float, float, float]:
    """(FLOPs, GPU seconds, peak host GB, GB of its float16 feature files) of one head-training job."""
    gpu = gpu or GPU
    sizes = dataset_sizes(config["datasets"][dataset])
    gen = generation(config, dataset)
    per_set, sources = gen["per_set"], gen["sources"]
    _, _, dim, _, _ = profile(config["models"][model])
    epochs = int(config["head"]["epochs"])
    if rule == "debug_heads":  # baseline (λ = 0), random, individual
        gen_rows, sets = [0.0, per_set, per_set], 2
    elif rule == "collective_heads":  # one head per generated set, the sets streamed one at a time
        gen_rows, sets = [per_set] * sources, 1
    elif rule == "lambda_sweep":  # one set, one head per λ
        gen_rows, sets = [per_set if lam > 0 else 0.0 for lam in config["paper"]["lambdas"]], 1
    else:  # one head per k, each on the first k backgrounds of the one set
        ks = config["paper"].get("k") or list(range(1, int(config["generator"]["k"]) + 1))
        gen_rows, sets = [per_set * k / int(config["generator"]["k"]) for k in ks], 1
    flops = head_flops(sizes["train"], gen_rows, dim, sizes["classes"], epochs)
    held = sizes["train"] + sizes["debug"] + sizes["test"] + sets * per_set
    held_gb = held * dim * 2 / GB  # float16
    budget = float((config.get("memory") or {}).get("device_gb", gpu["memory_gb"]))
    transfer = held_gb / gpu["pcie_gb_per_s"] * epochs if held_gb > 0.8 * budget else 0.0
    seconds = max(flops / (gpu["head_tflops"] * 1e12), transfer)
    # read as float32 (collective_heads keeps its generated sets float16), plus the transient
    # float16 buffer of the read and Python, torch, a CUDA context
    orig_gb = (sizes["train"] + sizes["debug"] + sizes["test"]) * dim * 2 / GB
    arrays = 2 * orig_gb + (held_gb - orig_gb) * (1 if rule == "collective_heads" else 2)
    host = BASE_GB + CUDA_HOST_GB + arrays + orig_gb + 1.0
    return flops, seconds, host, held_gb


def runtime_min(rule: str, config: dict[str, Any], dataset: str, model: str | None = None,
                attempt: int = 1, floor: int = 60, threads: int = 1, fill: float = 1.0) -> int:
    """The ``runtime`` (minutes) a rule declares: 1.5 x projected time, at least ``floor``, x attempt."""
    hours = job_hours(rule, config, dataset, model, threads, fill)
    return int(max(floor, 30 * math.ceil(hours * 1.5 * 2))) * int(attempt)


def job_hours(rule: str, config: dict[str, Any], dataset: str, model: str | None = None,
              threads: int = 1, fill: float = 1.0, cpu: dict | None = None,
              gpu: dict | None = None, first: bool = True) -> float:
    """Projected hours of one job (the worst job: ``first`` generation job makes the shared images)."""
    cpu, gpu = cpu or CPU, gpu or GPU
    entry = config["datasets"][dataset]
    sizes = dataset_sizes(entry)
    gen = generation(config, dataset, fill)
    if rule == "extract_features":
        rows = sizes["train"] + sizes["debug"] + sizes["test"]
        return forward_seconds(config, config["models"][model], rows, "jpeg", threads, cpu, gpu) / 3600
    if rule == "clip_debug_features":
        return forward_seconds(config, {**config["clip"], "family": "clip"}, sizes["debug"], "jpeg",
                               threads, cpu, gpu) / 3600
    if rule == "generated_features":
        return forward_seconds(config, config["models"][model], 2 * gen["per_set"], "png", threads,
                               cpu, gpu) / 3600
    if rule == "cross_features":
        todo = max(0.0, gen["individual_union"] - gen["per_set"])
        return forward_seconds(config, config["models"][model], todo, "png", threads, cpu, gpu) / 3600
    if rule.removesuffix("_shard") in GENERATION_RULES:  # the first job generates; later ones reuse
        return generation_job_hours(rule, config, dataset, fill, gpu, first)
    if rule == "collect_failures":  # a baseline head trains on the GPU (clipmend.debugging.heads)
        if has_own_head(config["models"][model], entry):
            return 0.02
        _, _, dim, _, _ = profile(config["models"][model])
        epochs = int(config["failures"].get("baseline", {}).get("epochs", 1000))
        flops = head_flops(sizes["train"], [0.0], dim, sizes["classes"], epochs)
        return flops / (gpu["head_tflops"] * 1e12) / 3600
    if rule in HEAD_RULES:
        return head_job(rule, config, dataset, model, gpu)[1] / 3600
    if rule == "assign_backgrounds":
        texts = sizes["classes"] * backgrounds_per_class(config)
        return texts * 2 * 38e6 * 77 / (cpu["text_gflops"] * 1e9) / 3600
    return 0.0


def head_job_mem_mb(features_mb: float, device: str, host_gb: float, attempt: int = 1) -> int:
    """Declared host memory (MB) of a head-training job, from the size of its feature files.

    ``features_mb`` is the size of its parquet inputs (float16 features). Reading them
    gives float32 arrays (2x) plus the float16 buffer while converting (1x): 3x. On the
    CPU the head planner keeps a standardised float32 copy (2x more, capped by the
    budget ``host_gb``); on a GPU the device holds it and the host only stages pieces.
    Add Python with torch and pandas, and a CUDA context where a GPU may be used. A retry
    asks for more (x attempt).
    """
    base = BASE_GB * 1000 + (0 if device == "cpu" else CUDA_HOST_GB * 1000)
    if device.startswith("cuda"):
        share = 512.0
    else:  # cpu, or auto (which may find no GPU): the CPU plan
        share = min(host_gb * 1000, 2 * features_mb + 512)
    return int((base + 1000 + 3 * features_mb + share) * attempt)



# --- shards: generation jobs that fit a partition (config ``cluster.max_job_hours``) ----------

GENERATION_RULES = ("generate_images", "generate_collective")
# runtime_min declares 1.5 x a job's projected time: shards are sized so that the declared
# time, not only the projected one, fits the bound (SLURM refuses a --time over the limit)
SHARD_RUNTIME_MARGIN = 1.5


def max_job_hours(config: dict[str, Any]) -> float:
    """The bound on one job's projected hours (``cluster.max_job_hours``, default 12)."""
    return float((config.get("cluster") or {}).get("max_job_hours", 12))


def generation_shards(config: dict[str, Any], dataset: str, rule: str = "generate_images",
                      gpu: dict | None = None) -> int:
    """Shard jobs (class ranges) that split one set of ``rule`` so each fits ``max_job_hours``.

    Sized for the worst job: the first of ``rule``, which makes all its images itself
    (``generate_images``: a model's individual and random sets; ``generate_collective``:
    a family's set), on ``gpu`` (default ``GPU``). At most one shard per class.
    """
    gen = generation(config, dataset)
    images = gen["per_set"] * (2 if rule == "generate_images" else 1)
    hours = sd_seconds(images, config, gpu) / 3600
    classes = dataset_sizes(config["datasets"][dataset])["classes"]
    wanted = math.ceil(hours * SHARD_RUNTIME_MARGIN / max_job_hours(config))
    return max(1, min(classes, wanted))


def shard_labels(classes: int, shard: int, shards: int) -> range:
    """The class labels of shard ``shard`` of ``shards``: contiguous, in label order."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is not one of 0..{shards - 1}")
    return range(shard * classes // shards, (shard + 1) * classes // shards)


def generation_job_hours(rule: str, config: dict[str, Any], dataset: str, fill: float = 1.0,
                         gpu: dict | None = None, first: bool = True) -> float:
    """Projected hours of one job of a generation rule or of its ``_shard`` rule.

    Unsharded, ``generate_images`` (or ``generate_collective``) makes its sets; sharded,
    each ``_shard`` job makes its share and the rule itself only merges their manifests.
    """
    base = rule.removesuffix("_shard")
    shards = generation_shards(config, dataset, base, gpu)
    if rule == base and shards > 1:
        return 0.0  # merging manifests
    gen = generation(config, dataset, fill)
    images = gen["per_set"] * (2 if base == "generate_images" else 1) if first else 0.0
    return sd_seconds(images / shards, config, gpu) / 3600
