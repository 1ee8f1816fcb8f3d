"""Cost model of the workflow: images, FLOPs, GPU time and host memory per rule and job.

Pure Python (no torch, numpy or pandas): ``workflow/rules/common.smk`` imports it
to declare ``mem_mb`` and ``runtime`` of the image rules, and
``benchmarks/paper_scale.py`` imports it to project the ``paper`` target, so the
declarations and the projection agree by construction.

Per-model numbers (``PROFILES``) were counted with ``torch.utils.flop_counter`` on the
meta device (``benchmarks/paper_scale.py --count-models`` recounts them): input size,
forward GFLOPs per image (multiply-adds count 2), feature dimension, parameters, and the
largest input+output of one layer (million elements per image, a proxy of activation
memory). GPU throughputs (``GPUS``, one profile per card kind) are public figures, each
with its source next to it, until ``benchmarks/gpu_smoke.py`` measures them on the card.
"""

from __future__ import annotations

import math
import re
from typing import Any

GB = 1e9

# arch (config ``arch``) -> (input px, GFLOPs/image, feature dim, M params, peak act. M elements)
PROFILES: dict[str, tuple[int, float, int, float, float]] = {
    "resnet18.tv_in1k": (224, 3.63, 512, 11.2, 1.6),
    "resnet18": (224, 3.63, 512, 11.2, 1.6),  # timm's own weights, the same network
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
    # the demo's backbones (config/config.yaml; at their own 32 px input, see ``profile``)
    "resnet10t": (176, 1.40, 512, 4.9, 1.0),
    "vit_tiny_patch16_224": (224, 2.51, 192, 5.5, 0.3),
    "convnext_atto": (224, 1.09, 320, 3.4, 1.0),
    "convnext_femto": (224, 1.56, 384, 4.8, 1.2),
    "mobilenetv3_small_050": (224, 0.05, 1024, 0.6, 0.4),
    "mobilenetv3_small_075": (224, 0.08, 1024, 1.0, 0.5),
    "clipmend-tiny": (32, 0.01, 128, 0.4, 0.0),
}
# an arch not in the table: ResNet-50-sized, a safe default
DEFAULT_PROFILE = (224, 8.17, 2048, 25.0, 1.6)

# --- the GPU kinds a projection can be for (config ``cluster.gpu``, paper_scale ``--gpu``) ----
#
# Effective forward TFLOP/s per family (mixed precision, large batch): timm's own benchmark
# of inference throughput, huggingface/pytorch-image-models
# results/benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv (AMP, NCHW, batch 1024, RTX 4090),
# times this module's counted FLOPs per image: resnet50 4,218 img/s x 8.17 = 34 TFLOP/s;
# resnet34 8,192 x 7.33 = 60; densenet121 3,615 x 5.67 = 20; tf_efficientnet_b0 7,641 x 0.77 =
# 5.9 and tf_efficientnet_b2 3,828 x 1.98 = 7.6; vit_small_patch16_224 7,693 x 9.2 = 71;
# vit_base_patch32_224 10,113 x 8.82 = 89; vit_large_patch32_224 3,482 x 30.75 = 107. No such
# table exists for the A100 or H100: the A100 takes the RTX 4090's figures unscaled (a lower
# bound: the A100's dense FP16 tensor peak, 312 TFLOP/s, and its 1,555 GB/s exceed the 4090's
# 165 TFLOP/s and 1,008 GB/s; NVIDIA A100 and Ada (AD102) datasheets), rounded down.
_FORWARD_4090 = {"resnet": 30.0, "densenet": 18.0, "efficientnet": 6.0, "vit": 70.0,
                 "swav": 30.0, "moco": 30.0, "dino": 70.0, "clip": 60.0}
GPUS: dict[str, dict[str, Any]] = {
    "a100": {
        "name": "NVIDIA A100 40GB SXM",
        # NVIDIA A100 datasheet (nvidia.com, "NVIDIA A100 Tensor Core GPU", 40GB SXM column):
        # 40 GB HBM2, 1,555 GB/s, FP16 tensor 312 TFLOP/s dense, TF32 156 TFLOP/s dense
        "memory_gb": 40.0,
        "forward_tflops": dict(_FORWARD_4090),
        "forward_tflops_default": 15.0,
        # diffusers' own SD v1.5 timings, docs/source/en/optimization/torch2.0.md, "A100 (batch
        # size: 4)", SD txt2img without compile (SDPA, fp16, channels-last UNet, 512 px, 50
        # steps with classifier-free guidance), the newest torch of the table ("torch nightly",
        # 2.1 pre-release; clipmend pins a later one): 13.12 it/s of a batch of 4 =
        # 13.12 x 4 / 50 = 1.05 images/s (torch 2.0: 11.6 it/s, 0.93 images/s; batch 16, torch
        # nightly: 3.6 it/s x 16 / 50 = 1.15 images/s: a batch of 8 is at least batch 4's rate)
        "sd_images_per_s": 1.05,
        # head training: TF32 matmuls (clipmend.devices.allow_tf32) at about half of the
        # datasheet's 156 TFLOP/s dense TF32 peak (measured on the card by gpu_smoke.py)
        "head_tflops": 80.0,
        # PCIe 4.0 x16: 32 GB/s per direction (PCI-SIG), ~20 GB/s achieved from pinned memory
        "pcie_gb_per_s": 20.0,
    },
    "h100": {
        "name": "NVIDIA H100 80GB SXM",
        # NVIDIA H100 datasheet ("NVIDIA H100 Tensor Core GPU", SXM column): 80 GB HBM3,
        # 3.35 TB/s, FP16 tensor 989 TFLOP/s dense, TF32 494 TFLOP/s dense
        "memory_gb": 80.0,
        # no public timm/diffusers table for the H100: the A100 figures x 2.0, below both the
        # datasheets' memory-bandwidth ratio (3.35 / 1.555 = 2.15) and dense FP16 ratio (3.2)
        "forward_tflops": {k: 2.0 * v for k, v in _FORWARD_4090.items()},
        "forward_tflops_default": 30.0,
        "sd_images_per_s": 2.0 * 1.05,  # the A100's diffusers figure x 2.0 (as above)
        "head_tflops": 250.0,  # about half of the datasheet's 494 TFLOP/s dense TF32
        "pcie_gb_per_s": 40.0,  # PCIe 5.0 x16: 64 GB/s per direction (PCI-SIG), ~40 achieved
    },
}
GPU: dict[str, Any] = GPUS["a100"]  # the default kind (config ``cluster.gpu``)

# GPU memory (GB) a process needs before its own tensors: the CUDA context with cuBLAS and
# cuDNN loaded (PyTorch on A100/H100: ~0.5 GB), and a margin for cuBLAS workspaces (PyTorch
# keeps 4 MiB x 8 per handle and stream before Hopper, 32 MiB on Hopper) and the caching
# allocator's fragmentation. The head budget is the device's free memory less DEVICE_MARGIN_GB
# (clipmend.debugging.heads.memory_budget), the config's memory.device_gb only an upper bound.
CUDA_CONTEXT_GB = 0.5
DEVICE_MARGIN_GB = 1.5
# SD v1.5 in float16 on the GPU: UNet 860 M + text encoder 123 M + VAE 84 M parameters x 2 bytes
# (diffusers' model cards) = 2.1 GB, plus the VAE decode of one 512 px image (~1 GB, the reason
# diffusers offers enable_vae_slicing) per image of a batch. Assumed.
SD_GPU_GB = 2.1
SD_GPU_GB_PER_IMAGE = 1.0
# Share of SD time that does not scale with the number of denoising steps (text encoder and
# VAE decode: ~50 ms of the ~1.1 s per image at 50 steps in diffusers' A100 table). Assumed.
SD_FIXED_SHARE = 0.05


def gpu_kind(config: dict[str, Any] | None = None, name: str | None = None) -> dict[str, Any]:
    """The GPU profile named ``name``, else the config's ``cluster.gpu`` (default a100)."""
    name = name or str(((config or {}).get("cluster") or {}).get("gpu", "a100"))
    if name not in GPUS:
        raise ValueError(f"unknown GPU kind {name!r}: expected one of {', '.join(GPUS)}")
    return GPUS[name]


# CPU figures per core, used where a rule runs on the CPU or decodes images: rounded from
# benchmarks/paper_scale.py's measurements on a 2-core dev VM (it re-measures them each run)
CPU: dict[str, float] = {
    "decode_jpeg_per_s": 100.0,  # 500x375 JPEG -> resized, cropped, normalised 224 px tensor
    "decode_png_per_s": 40.0,  # 512 px generated PNG -> tensor
    "head_gflops": 40.0,  # full-batch head training step (4·N·D·C), one thread
    # one step of fine-tuning CLIP's projections on cached features (spurious_train; ours_ls's four
    # losses on the demo's shape, small matmuls: benchmarks/paper_scale.py finetune_step_seconds):
    # framework dispatch, not FLOPs. On a GPU the same host-side dispatch bounds a step of small
    # kernels (PyTorch's performance tuning guide on small, launch-bound workloads), so the GPU
    # projection takes this figure too
    "finetune_step_s": 2.7e-3,
    "forward_gflops": 60.0,  # a ResNet-50 forward at batch 32, one thread (fp32)
}

# host memory (GB): a Python process with torch, timm, pandas, pyarrow imported; what a CUDA
# context adds (driver, cuBLAS, cuDNN); the SD v1.5 pipeline in float16 while it loads
BASE_GB = 1.2
CUDA_HOST_GB = 2.5
SD_HOST_GB = 4.0
WORKER_GB = 0.5  # one image-decoding worker process
TRAIN_BYTES_PER_PARAM = 16  # float32 weights, gradients and two optimiser buffers
# Training keeps every leaf module's output of a batch for the backward: the sum of those
# outputs per image (M elements) is counted on the meta device by benchmarks/cost_check.py for
# a run's models; without a count, this many times the largest layer's input + output
# (``PROFILES``' last column; the demo's models: 5-100x, counted). Assumed.
TRAIN_ACT_PER_LARGEST = 20.0
# open_clip text towers (token embedding + transformer), M parameters: the configs' vocab_size
# x width + layers x 12 x width^2 (clipmend-tiny: 49,408 x 128 + 2 x 12 x 128^2)
CLIP_TEXT_MPARAMS = {"clipmend-tiny": 6.7, "clipmend-tiny-rn": 6.7, "ViT-B-32": 63.4}
TOKENIZER_GB = 0.03  # open_clip's BPE tokenizer (measured: +26 MB of peak RSS)
MANIFEST_ROW_BYTES = 900  # one row of a generated-set manifest in pandas (paths, prompt, ...)
MARGIN = 1.2  # declared = projected peak x MARGIN (at least the rule's floor)

# The LLM's backgrounds per class after de-duplication (config/llm): how many distinct
# backgrounds all models together can pick per class. Not in the paper; gpt-3.5 lists ~10.
BACKGROUNDS_PER_CLASS = 10


def profile(entry: dict[str, Any]) -> tuple[int, float, int, float, float]:
    """A model's (px, GFLOPs, dim, M params, peak activation M) from its config entry.

    An entry whose ``pretrained_cfg`` sets another input size (the demo's 32 px models)
    scales FLOPs and activations by the pixels.
    """
    px, gflops, dim, mparams, act = PROFILES.get(str(entry.get("arch")), DEFAULT_PROFILE)
    size = ((entry.get("pretrained_cfg") or {}).get("input_size") or [0, px])[-1]
    if int(size) != px:
        scale = (int(size) / px) ** 2
        return int(size), gflops * scale, dim, mparams, act * scale
    return px, gflops, dim, mparams, act


DEMO_BACKGROUNDS = 10  # the demo world's kinds of background (clipmend.demo.textures.BACKGROUNDS)


def dataset_sizes(entry: dict[str, Any]) -> dict[str, int]:
    """Classes, train/debug/test rows, and files listed while indexing, from config alone.

    ``entry["counted"]`` (set by benchmarks/cost_check.py from a finished run's index, never by
    a config) gives the sizes counted instead: a folder data set's size is not in its config.
    """
    if entry.get("counted"):
        return dict(entry["counted"])
    kind, opts = entry.get("kind"), dict(entry.get("options") or {})
    if kind == "imagenet":
        classes, train_all, holdout, listed = 1000, 1_281_167, 50_000, 1_331_167
    elif kind == "waterbirds":  # WILDS waterbirds_v1.0 metadata.csv (Sagawa et al. 2020): val is the debug split
        return {"classes": 2, "train": 4_795, "debug": 1_199, "test": 5_794, "listed": 11_788}
    elif kind in ("cifar10", "cifar100"):
        classes = 10 if kind == "cifar10" else 100
        train_all, holdout, listed = 50_000, 10_000, 60_000
    elif kind == "demo":
        classes = len(opts.get("classes") or opts.get("common_backgrounds") or {}) or 10
        train = classes * int(opts.get("n_train_per_class", 300))
        debug = classes * int(opts.get("n_val_per_class", 200))
        test = classes * int(opts.get("n_test_per_class", 200))
        if opts.get("test_layout") == "paired":  # every test object on every background
            test *= classes if opts.get("mode") == "binary" else DEMO_BACKGROUNDS
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


def distinct_generated(gen: dict[str, float]) -> float:
    """Distinct images of the individual and random sets of every model (``generation``'s union, an upper bound)."""
    return gen["individual_union"] + gen["random_union"]


# --- host memory per job (bytes) -----------------------------------------------------------


# What the code holds, per feature value or row: measured on the dev VM (pyarrow 19, glibc
# malloc, one thread) by the micro-benchmarks in benchmarks/cost_check.py (``--calibrate``
# re-measures and prints them), rounded.
# write_features: the float16 copy, the parquet writer's repetition and definition levels (int16
# each per value of a FixedSizeList column), dictionary indices (int32) and the encoded and
# compressed pages, on top of the resident float32 input: +16 B per value at 21,000 x 1,024
# and 100,000 x 512 values, +33 MB fixed
PARQUET_WRITE_BYTES = 16.0
# read_features: the float16 table, its decoded pages and the float32 result, per stored value
# of the file (a split filter applies after the whole file is read): 7-16 B at 4-51 M values
PARQUET_READ_BYTES = 11.0
PARQUET_FIXED_GB = 0.05  # pyarrow's memory pool and the reader's buffers on first use
# clipmend.models.features.extract: float32 batches kept in a list, then their concatenation
# (glibc keeps the freed batches in its heap, so both count until the process ends)
EXTRACT_BYTES = 8.0
# one row of a data set index read into pandas (id, image and mask references, split, label,
# class and attribute; strings as Python objects): the demo's 22,800-row index adds 68 MB
INDEX_ROW_BYTES = 3000.0


def _features_bytes(rows: float, dim: int) -> float:
    """Peak of ``extract`` then ``write_features``: float32 batches, their concatenation, the writer."""
    return (EXTRACT_BYTES + PARQUET_WRITE_BYTES) * rows * dim + PARQUET_FIXED_GB * GB


def _read_bytes(values: float) -> float:
    """Peak of ``read_features`` of a file of ``values`` feature values (with its float32 result)."""
    return PARQUET_READ_BYTES * values + PARQUET_FIXED_GB * GB


def _token_view_bytes(entry: dict[str, Any], rows: float, cuda: bool) -> float:
    """On the CPU, a ViT's pooled feature is a view of its last hidden state (``x[:, 0]``), and
    ``devices.to_numpy`` keeps that view: every batch's (tokens x width) float32 output stays
    alive until the concatenation. On a GPU the copy to the host takes the view only."""
    if cuda:
        return 0.0
    tokens, width = vit_tokens(entry)
    return 4.0 * rows * tokens * width


def vit_tokens(entry: dict[str, Any]) -> tuple[int, int]:
    """(tokens, width) of a ViT image tower's last hidden state ((0, 0) for a CNN).

    From the arch's name (``patch16``) or ``kwargs.patch_size``, the input size, and the
    feature dimension (a timm ViT's pooled feature is its width); open_clip towers from
    ``CLIP_VISION`` (their configs' ``vision_cfg``).
    """
    arch = str(entry.get("arch"))
    px = profile(entry)[0]
    if arch in CLIP_VISION:
        patch, width = CLIP_VISION[arch]
    else:
        match = re.search(r"patch(\d+)", arch)
        patch = int((entry.get("kwargs") or {}).get("patch_size") or (match and match.group(1)) or 0)
        width = profile(entry)[2]
        if not patch or "_r26_" in arch or "_r50_" in arch:  # CNNs, hybrids (a conv stem)
            return 0, 0
    if not patch:
        return 0, 0
    return (px // patch) ** 2 + 1, width


# open_clip ViT image towers: (patch size, width) from their configs' vision_cfg
CLIP_VISION = {"clipmend-tiny": (8, 128), "ViT-B-32": (32, 768), "ViT-L-14": (14, 1024)}


def _model_bytes(mparams: float) -> float:
    return 2 * 4 * mparams * 1e6  # the state dict and the model, float32


def _batch_bytes(config: dict[str, Any], entry: dict[str, Any]) -> float:
    """Two float32 input batches (the one in the forward and the next, prefetched)."""
    px = profile(entry)[0]
    return 2 * feature_batch_size(config, entry) * 3 * px * px * 4.0


# --- feature batch size from a memory model of the architecture -----------------------------

FEATURE_BATCH_MAX = 256


def feature_device_gb(entry: dict[str, Any], batch: int, value_bytes: int = 2) -> float:
    """Projected device memory (GB) of a no-grad forward of ``batch`` images of a model.

    The float32 weights, and three times the largest layer's input + output per image (the
    layer's operands and the next layer's output alive together; ``PROFILES``' last column,
    counted with forward hooks on the meta device) in ``value_bytes`` (2: autocast fp16/bf16;
    4: float32 on the CPU), plus the CUDA context.
    """
    _, _, _, mparams, act = profile(entry)
    tensors = 4 * mparams * 1e6 + 3 * value_bytes * act * 1e6 * batch
    return CUDA_CONTEXT_GB + tensors / GB


def auto_batch_size(entry: dict[str, Any], memory_gb: float, value_bytes: int = 2,
                    most: int = FEATURE_BATCH_MAX) -> int:
    """The largest power of two up to ``most`` whose forward fits ``memory_gb`` less the margin."""
    batch = most
    while batch > 1 and feature_device_gb(entry, batch, value_bytes) > memory_gb - DEVICE_MARGIN_GB:
        batch //= 2
    return batch


def feature_batch_size(config: dict[str, Any], entry: dict[str, Any],
                       memory_gb: float | None = None) -> int:
    """``features.batch_size`` when the user set one, else chosen for the card (``auto``)."""
    requested = (config.get("features") or {}).get("batch_size", "auto")
    if requested not in (None, "auto"):
        return int(requested)
    return auto_batch_size(entry, memory_gb or gpu_kind(config)["memory_gb"])


# The host a job runs on: its base process (GB), what a CUDA context adds, one decoding worker.
# The cluster's GPU node by default (the figures above); benchmarks/cost_check.py measures
# them on the machine a run was made on (a CPU: no CUDA context).
GPU_NODE: dict[str, float] = {"base_gb": BASE_GB, "cuda_gb": CUDA_HOST_GB, "worker_gb": WORKER_GB}


#: rules that do what another rule does, on a set of the same size or smaller (sized as that rule)
SAME_WORK_AS = {
    "edit_images": "generate_images",  # memory: the pipeline and one set (time: job_hours)
    "edit_images_shard": "generate_images",
    "edit_features": "generated_features",  # one set's features (generated_features: two)
    "generated_features_variant": "generated_features",
    "generation_variant_seeds": "debug_head_seeds",  # seeded heads, one per variant and seed
    "filter_collective": "filter_images",  # the families' sets: at most the models' images
}


def job_memory_gb(rule: str, config: dict[str, Any], dataset: str, model: str | None = None,
                  threads: int = 1, fill: float = 1.0, cuda: bool = True,
                  host: dict[str, float] | None = None, makes_images: bool = True) -> float:
    """Projected peak host memory (GB) of one job of ``rule`` (0 for a rule not modelled).

    ``cuda``: the job runs on a GPU (its process holds a CUDA context); False on the CPU.
    ``host``: base process, CUDA context and worker sizes (``GPU_NODE`` by default).
    ``makes_images``: a generation job has images to make (it loads the pipeline); False where
    the store holds them all already (the time model's collective sets), so it only lists them.
    """
    rule = SAME_WORK_AS.get(rule, rule)
    host = host or GPU_NODE
    base_gb, cuda_gb = host["base_gb"], host["cuda_gb"] if cuda else 0.0
    entry = config["datasets"][dataset]
    sizes = dataset_sizes(entry)
    n_workers = max(0, min(8, threads - 1))  # decoding (features only)
    workers = n_workers * host["worker_gb"] * GB
    gpu_base = (base_gb + cuda_gb) * GB
    if model is not None:
        px, _, dim, mparams, _ = profile(config["models"][model])
    if rule == "prepare_data":
        drawn = 0.0
        if entry.get("kind") == "demo":  # the demo world is drawn in float64, then stored as uint8
            px = int((entry.get("options") or {}).get("image_size", 32))
            drawn = sizes["listed"] * px * px * 3 * 8.0
        return (base_gb * GB + sizes["listed"] * 600.0 + drawn) / GB
    if rule in ("extract_features", "generated_features", "cross_features"):
        rows_all = sizes["train"] + sizes["debug"] + sizes["test"]
        gen = generation(config, dataset, fill)
        model_entry = config["models"][model]
        batch = feature_batch_size(config, model_entry)
        mparams += _text_tower_mparams(model_entry)
        base = gpu_base + _model_bytes(mparams) + _batch_bytes(config, model_entry)
        if host.get("fork_rss"):  # each worker counted at the parent's size when forked
            workers = n_workers * (gpu_base + _model_bytes(mparams) + _index_bytes(sizes))

        def decoding(rows: float) -> float:  # data.image_batches: workers only past one batch
            return workers if rows > batch else 0.0

        if rule == "extract_features":  # the index, its images, their features written once
            return (base + decoding(rows_all) + _index_bytes(sizes) + _array_bytes(entry, rows_all)
                    + _features_bytes(rows_all, dim) + _token_view_bytes(model_entry, rows_all, cuda)) / GB
        if rule == "generated_features":  # one set after the other
            return (base + decoding(gen["per_set"]) + _features_bytes(gen["per_set"], dim)
                    + _token_view_bytes(model_entry, gen["per_set"], cuda)) / GB
        own = 2 * gen["per_set"]
        todo = max(0.0, gen["individual_union"] - gen["per_set"])
        held = 4.0 * (own + todo) * dim  # features of every image the target needs, float32
        # the reads of its own sets, the extraction of the rest, then one file per source written
        transient = max(_read_bytes(gen["per_set"] * dim), EXTRACT_BYTES * todo * dim
                        + _token_view_bytes(model_entry, todo, cuda),
                        PARQUET_WRITE_BYTES * gen["per_set"] * dim + PARQUET_FIXED_GB * GB)
        manifests = (gen["sources"] - 1) * gen["per_set"] * MANIFEST_ROW_BYTES * 2
        return (base + decoding(todo) + held + transient + manifests) / GB
    if rule == "collect_failures":
        # the whole feature file is read (the split filter applies after), then the train and
        # debug rows are copied out of the float32 result (boolean indexing)
        rows_all = sizes["train"] + sizes["debug"] + sizes["test"]
        peak = base_gb * GB + _read_bytes(rows_all * dim) + 4.0 * (sizes["train"] + sizes["debug"]) * dim
        if not has_own_head(config["models"][model], entry):  # a baseline head, on the device
            peak += 8.0 * sizes["train"] * dim + 16.0 * sizes["train"] * sizes["classes"]
            peak += cuda_gb * GB
        return peak / GB
    if rule == "clip_debug_features":
        px, _, dim, mparams, _ = profile(config["clip"])
        mparams += _text_tower_mparams(config["clip"], clip=True)
        rows = sizes["debug"]
        if host.get("fork_rss"):  # each worker counted at the parent's size when forked
            workers = n_workers * (gpu_base + _model_bytes(mparams) + _index_bytes(sizes))
        workers = workers if rows > feature_batch_size(config, config["clip"]) else 0.0
        return (gpu_base + workers + _model_bytes(mparams) + _batch_bytes(config, config["clip"])
                + _index_bytes(sizes) + _array_bytes(entry, rows) + _features_bytes(rows, dim)
                + _token_view_bytes(config["clip"], rows, cuda)) / GB
    if rule == "spurious_clip_features":  # every train/val/test image's pre-projection feature
        px, _, dim, mparams, _ = profile(config["clip"])
        mparams += _text_tower_mparams(config["clip"], clip=True)
        rows = sizes["train"] + sizes["debug"] + sizes["test"]
        width = vit_tokens(config["clip"])[1] or dim
        if host.get("fork_rss"):  # each worker counted at the parent's size when forked
            workers = n_workers * (gpu_base + _model_bytes(mparams) + _index_bytes(sizes))
        workers = workers if rows > feature_batch_size(config, config["clip"]) else 0.0
        return (gpu_base + workers + _model_bytes(mparams) + _batch_bytes(config, config["clip"])
                + _index_bytes(sizes) + _array_bytes(entry, rows) + EXTRACT_BYTES * rows * width
                + _token_view_bytes(config["clip"], rows, cuda)) / GB
    if rule == "spurious_train":  # the cached features, then the largest method's float32 copies
        _, _, dim, _, _ = profile(config["clip"])
        width = vit_tokens(config["clip"])[1] or dim
        rows = sizes["train"] + sizes["debug"] + sizes["test"]
        record = 2.0 * rows * (width + dim)  # float16 pre-projection features and embeddings
        # linear_probe: every embedding in float32, the train rows again and the head planner's
        # standardised copy; fine-tuning: the train and val pre-projection features in float32
        # (predictions run PREDICT_CHUNK rows at a time: chunk-sized)
        probe = 4.0 * (rows + 2 * sizes["train"]) * dim
        tune = 4.0 * (sizes["train"] + sizes["debug"]) * width
        return (base_gb * GB + INDEX_ROW_BYTES * rows + record + max(probe, tune)) / GB  # the record's meta rows
    if rule == "score_generated_images":  # CLIP over every distinct generated image, held until scored
        _, _, dim, mparams, _ = profile(config["clip"])
        mparams += _text_tower_mparams(config["clip"], clip=True)
        gen = generation(config, dataset, fill)
        rows = distinct_generated(gen)
        if host.get("fork_rss"):  # each worker counted at the parent's size when forked
            workers = n_workers * (gpu_base + _model_bytes(mparams))
        workers = workers if rows > feature_batch_size(config, config["clip"]) else 0.0
        manifests = len(config["models"]) * 2 * gen["per_set"] * MANIFEST_ROW_BYTES
        return (gpu_base + workers + _model_bytes(mparams) + _batch_bytes(config, config["clip"])
                + EXTRACT_BYTES * rows * dim + _token_view_bytes(config["clip"], rows, cuda) + manifests) / GB
    if rule == "score_collective_images":
        # the families' sets reuse the models' images (as the time model's collective sets), all scored
        # already: their manifests and the scores table are read, and no CLIP is loaded
        gen = generation(config, dataset, fill)
        n_families = len(families(config))
        return (base_gb * GB + (n_families * gen["per_set"] + distinct_generated(gen)) * MANIFEST_ROW_BYTES) / GB
    if rule == "filter_images":  # the scores table, then one model's two manifests at a time (no model loaded)
        gen = generation(config, dataset, fill)
        return (base_gb * GB + (4 * gen["per_set"] + distinct_generated(gen)) * MANIFEST_ROW_BYTES) / GB
    if rule == "assign_backgrounds":
        _, _, dim, mparams, _ = profile(config["clip"])
        texts = sizes["classes"] * backgrounds_per_class(config)
        return (base_gb * GB + _model_bytes(mparams) + 6.0 * sizes["debug"] * dim
                + 8.0 * texts * dim) / GB
    if rule.removesuffix("_shard") in ("generate_images", "generate_collective"):
        gen = generation(config, dataset, fill)
        diffusers = config["generator"].get("backend") == "diffusers" and makes_images
        pipeline = sd_host_gb(config) if diffusers else 0.0
        return (gpu_base + pipeline * GB + 2 * gen["per_set"] * 1000.0) / GB
    if rule == "propose_backgrounds":
        return base_gb + 0.5
    if rule in ("train_backbone", "train_clip"):  # the demo's models, trained from scratch
        batch = int(((config.get("clip") or {}).get("train") if rule == "train_clip"
                     else config.get("train", {})).get("batch_size", 128))
        key = "clip" if rule == "train_clip" else model
        net = config["clip"] if rule == "train_clip" else config["models"][model]
        act = (host.get("train_act_m") or {}).get(key) or TRAIN_ACT_PER_LARGEST * profile(net)[4]
        mparams = profile(net)[3]
        rows = sizes["train"]
        extra = 0.0
        if rule == "train_clip":  # image and text towers, open_clip's BPE tokenizer, the CLIP split
            mparams += CLIP_TEXT_MPARAMS.get(str(net["arch"]), 63.4)
            rows, extra = sizes["listed"] - sizes["train"] - sizes["debug"] - sizes["test"], TOKENIZER_GB * GB
        px = profile(net)[0]
        # weights, gradients and AdamW's two buffers; the autograd graph of one batch (every
        # leaf module's output is kept for the backward); the split decoded once into float32
        # (its batches and their concatenation: training._preload); the index
        return (base_gb * GB + extra + TRAIN_BYTES_PER_PARAM * mparams * 1e6 + 4.0 * act * 1e6 * batch
                + 2 * 4.0 * rows * 3 * px * px + _index_bytes(sizes)) / GB
    return 0.0


def _text_tower_mparams(entry: dict[str, Any], clip: bool = False) -> float:
    """An open_clip model loads whole (``clip.loading.load_clip``): its text tower's parameters too
    (``clip``: the config's CLIP, an open_clip model)."""
    if clip or entry.get("source") == "open_clip":
        return CLIP_TEXT_MPARAMS.get(str(entry.get("arch")), 63.4)
    return 0.0


def sd_host_gb(config: dict[str, Any]) -> float:
    """Host memory (GB) of loading the generator's diffusers pipeline: a local pipeline folder's
    weight files twice (the files read, the modules built from them), else SD v1.5's SD_HOST_GB."""
    from pathlib import Path

    folder = Path(str(_gen_option(config, "model", "")))
    if folder.is_dir():
        files = [f for f in folder.rglob("*") if f.suffix in (".safetensors", ".bin", ".ckpt")]
        return 2 * sum(f.stat().st_size for f in files) / GB
    return SD_HOST_GB


def _index_bytes(sizes: dict[str, int]) -> float:
    """A data set's index read into pandas (every listed row)."""
    return INDEX_ROW_BYTES * sizes["listed"]


def _array_bytes(entry: dict[str, Any], rows: float) -> float:
    """Pages of a memory-mapped uint8 image array that ``rows`` rows touch (they count in RSS):
    the demo's and CIFAR's ``images.npy``; 0 where images are files, decoded one by one."""
    kind = entry.get("kind")
    if kind not in ("demo", "cifar10", "cifar100"):
        return 0.0
    px = int((entry.get("options") or {}).get("image_size", 32)) if kind == "demo" else 32
    return rows * px * px * 3.0


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
    cpu, gpu = cpu or CPU, gpu or gpu_kind(config)
    _, gflops, _, _, _ = profile(entry)
    family = str(entry.get("family", ""))
    tflops = gpu["forward_tflops"].get(family, gpu["forward_tflops_default"])
    forward = images * gflops / (tflops * 1e3)
    workers = max(0, min(8, threads - 1))
    if source == "array":  # rows of a uint8 array, normalised in the job's own process
        return forward
    rate = cpu["decode_jpeg_per_s"] if source == "jpeg" else cpu["decode_png_per_s"]
    decode = images / (rate * max(1, workers))
    return max(forward, decode) if workers else forward + decode


def sd_seconds(images: float, config: dict[str, Any], gpu: dict | None = None) -> float:
    """Seconds of SD generation on one GPU, scaled from 50 steps at 512 px.

    The denoising steps (``generator.options.num_inference_steps``, or its older name
    ``steps``) scale all but ``SD_FIXED_SHARE`` of the time; a multistep solver costs one
    UNet evaluation per step like the paper's default scheduler, so only the step count
    matters. Pixels scale all of it.
    """
    gpu = gpu or gpu_kind(config)
    steps = sd_steps(config)
    pixels = int(_gen_option(config, "height", 512)) * int(_gen_option(config, "width", 512)) / 512**2
    scale = (SD_FIXED_SHARE + (1 - SD_FIXED_SHARE) * steps / 50) * pixels
    return images * scale / gpu["sd_images_per_s"]


def generated_pixels(config: dict[str, Any]) -> int:
    """Pixels of one generated image: the generator's height x width (SD: 512 x 512), or the
    demo world's image size (the copy-paste generator)."""
    world = _gen_option(config, "world", None)
    if isinstance(world, dict) and world.get("image_size"):
        return int(world["image_size"]) ** 2
    return int(_gen_option(config, "height", 512)) * int(_gen_option(config, "width", 512))


def _gen_option(config: dict[str, Any], key: str, default: Any) -> Any:
    return (config["generator"].get("options") or {}).get(key, default)


def sd_steps(config: dict[str, Any]) -> int:
    """Denoising steps of the generator (the paper's 50 unless the options say otherwise)."""
    opts = config["generator"].get("options") or {}
    return int(opts.get("num_inference_steps", opts.get("steps", 50)))


def sd_device_gb(config: dict[str, Any]) -> float:
    """Projected GPU peak (GB) of an SD generation job: weights, a batch of VAE decodes, context."""
    batch = int(config["generator"].get("batch_size", 8))
    return CUDA_CONTEXT_GB + SD_GPU_GB + SD_GPU_GB_PER_IMAGE * batch


def head_budget_gb(config: dict[str, Any], gpu: dict[str, Any] | None = None) -> float:
    """The head planner's device budget on a card: its memory less the margin, at most memory.device_gb."""
    gpu = gpu or gpu_kind(config)
    cap = float((config.get("memory") or {}).get("device_gb", gpu["memory_gb"]))
    return min(cap, gpu["memory_gb"] - DEVICE_MARGIN_GB)


HEAD_FLOPS_PER_NDC = 4.0  # forward + weight gradient (see head_flops)
HEAD_RULES = ("debug_heads", "debug_head_seeds", "collective_heads", "lambda_sweep", "k_sweep")


def head_flops(rows_orig: float, gen_rows: list[float], dim: int, classes: int, epochs: int) -> float:
    """Full-batch training FLOPs as ``heads._fit_chunk`` performs them: 4·N·D·C per head and epoch.

    Per step, the logits ``x W^T`` (2·N·D·C) and the weight gradient ``G^T x`` (2·N·D·C); no
    gradient with respect to the features is formed.
    """
    rows = len(gen_rows) * rows_orig + sum(gen_rows)
    return HEAD_FLOPS_PER_NDC * rows * dim * classes * epochs


def head_job(rule: str, config: dict, dataset: str, model: str, gpu: dict | None = None,
             host: dict[str, float] | None = None, cuda: bool = True) -> tuple[float, float, float, float]:
    """(FLOPs, GPU seconds, peak host GB, GB of its float16 feature files) of one head-training job."""
    gpu = gpu or gpu_kind(config)
    sizes = dataset_sizes(config["datasets"][dataset])
    gen = generation(config, dataset)
    per_set, sources = gen["per_set"], gen["sources"]
    _, _, dim, _, _ = profile(config["models"][model])
    epochs = int(config["head"]["epochs"])
    if rule == "debug_heads":  # baseline (λ = 0), random, individual
        gen_rows, sets = [0.0, per_set, per_set], 2
    elif rule == "debug_head_seeds":  # the baseline, and random and individual once per seed
        seeds = len((config.get("spurious") or {}).get("seeds") or [0])
        gen_rows, sets = [0.0] + [per_set, per_set] * seeds, 2
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
    budget = head_budget_gb(config, gpu)
    transfer = held_gb / gpu["pcie_gb_per_s"] * epochs if held_gb > 0.8 * budget else 0.0
    seconds = max(flops / (gpu["head_tflops"] * 1e12), transfer)
    # the original features read whole (float32, with the reader's transient), the generated
    # sets' features held (float32; collective_heads keeps them float16, one set on the device at
    # a time), and on the CPU the planner's standardised float32 copy (capped by the budget);
    # on a GPU the device holds that copy and the host stages pieces (1 GB). Plus Python, torch
    # and a CUDA context.
    orig_values = (sizes["train"] + sizes["debug"] + sizes["test"]) * dim
    gen_values = sets * per_set * dim
    gen_bytes = (2.0 if rule == "collective_heads" else 4.0) * gen_values
    host = host or GPU_NODE
    host_gb = float((config.get("memory") or {}).get("host_gb", 16))
    share = 1.0 * GB if cuda else min(4.0 * (orig_values + gen_values), host_gb * GB)
    peak = (host["base_gb"] + (host["cuda_gb"] if cuda else 0.0)) + (
        _read_bytes(orig_values) + gen_bytes + share) / GB
    return flops, seconds, peak, held_gb


def runtime_min(rule: str, config: dict[str, Any], dataset: str, model: str | None = None,
                attempt: int = 1, floor: int = 60, threads: int = 1, fill: float = 1.0) -> int:
    """The ``runtime`` (minutes) a rule declares: 1.5 x projected time, at least ``floor``, x attempt."""
    hours = job_hours(rule, config, dataset, model, threads, fill)
    return int(max(floor, 30 * math.ceil(hours * 1.5 * 2))) * int(attempt)


def job_hours(rule: str, config: dict[str, Any], dataset: str, model: str | None = None,
              threads: int = 1, fill: float = 1.0, cpu: dict | None = None,
              gpu: dict | None = None, first: bool = True) -> float:
    """Projected hours of one job (the worst job: ``first`` generation job makes the shared images)."""
    if rule.removesuffix("_shard") == "edit_images":  # a model's own set, never shared
        shards = generation_shards(config, dataset, "edit_images", gpu)
        if rule == "edit_images" and shards > 1:
            return 0.0  # merging manifests
        images = generation(config, dataset, fill)["per_set"] / shards
        return sd_seconds(images, config, gpu) * edit_strength(config) / 3600
    rule = SAME_WORK_AS.get(rule, rule)
    cpu, gpu = cpu or CPU, gpu or gpu_kind(config)
    entry = config["datasets"][dataset]
    sizes = dataset_sizes(entry)
    gen = generation(config, dataset, fill)
    source = "array" if _array_bytes(entry, 1) else "jpeg"  # rows of a uint8 array: sliced, not decoded
    if rule == "extract_features":
        rows = sizes["train"] + sizes["debug"] + sizes["test"]
        return forward_seconds(config, config["models"][model], rows, source, threads, cpu, gpu) / 3600
    if rule == "clip_debug_features":
        return forward_seconds(config, {**config["clip"], "family": "clip"}, sizes["debug"], source,
                               threads, cpu, gpu) / 3600
    if rule == "spurious_clip_features":
        rows = sizes["train"] + sizes["debug"] + sizes["test"]
        return forward_seconds(config, {**config["clip"], "family": "clip"}, rows, source,
                               threads, cpu, gpu) / 3600
    if rule in ("train_backbone", "train_clip"):  # forward and backward (2x the forward) per epoch
        net = config["clip"] if rule == "train_clip" else config["models"][model]
        train = (net.get("train") if rule == "train_clip" else config.get("train")) or {}
        rows = (sizes["listed"] - sizes["train"] - sizes["debug"] - sizes["test"]
                if rule == "train_clip" else sizes["train"])
        images = 3 * rows * int(train.get("epochs", 1))
        return forward_seconds(config, {**net, "family": ""}, images, "array", threads, cpu, gpu) / 3600
    # decode_png_per_s is for 512 px images: decoding scales with the generated images' pixels
    png_cpu = {**cpu, "decode_png_per_s": cpu["decode_png_per_s"] * 512**2 / generated_pixels(config)}
    if rule == "generated_features":
        return forward_seconds(config, config["models"][model], 2 * gen["per_set"], "png", threads,
                               png_cpu, gpu) / 3600
    if rule == "score_generated_images":  # CLIP over every distinct generated image, once
        return forward_seconds(config, {**config["clip"], "family": "clip"}, distinct_generated(gen), "png",
                               threads, png_cpu, gpu) / 3600
    if rule == "cross_features":
        todo = max(0.0, gen["individual_union"] - gen["per_set"])
        return forward_seconds(config, config["models"][model], todo, "png", threads, png_cpu, gpu) / 3600
    if rule.removesuffix("_shard") in GENERATION_RULES:  # the first job generates; later ones reuse
        return generation_job_hours(rule, config, dataset, fill, gpu, first)
    if rule == "spurious_train":  # the slowest method's job
        return spurious_train_hours(config, dataset, cpu, gpu)
    if rule == "collect_failures":  # a baseline head trains on the GPU (clipmend.debugging.heads)
        if has_own_head(config["models"][model], entry):  # its own head's predictions: a read
            return 0.0
        _, _, dim, _, _ = profile(config["models"][model])
        epochs = int(config["failures"].get("baseline", {}).get("epochs", 1000))
        flops = head_flops(sizes["train"], [0.0], dim, sizes["classes"], epochs)
        return flops / (gpu["head_tflops"] * 1e12) / 3600
    if rule in HEAD_RULES:
        return head_job(rule, config, dataset, model, gpu)[1] / 3600
    if rule == "assign_backgrounds":
        texts = sizes["classes"] * backgrounds_per_class(config)
        return texts * 2 * 38e6 * 77 / (cpu["forward_gflops"] * 1e9) / 3600
    return 0.0


#: data set kinds whose images record the attribute (the groups fine-tuning balances and selects by)
GROUPED_KINDS = ("demo", "waterbirds")


def spurious_train_hours(config: dict[str, Any], dataset: str, cpu: dict | None = None,
                         gpu: dict | None = None) -> float:
    """Projected hours of the slowest ``spurious_train`` job: a fine-tuned method over its seeds, or,
    where images record no attribute (fine-tuning is skipped), the linear probe.

    Per seed and epoch: ``ceil(train / batch)`` steps, each ``finetune_step_s`` of dispatch plus
    the FLOPs of projecting a batch and every class prompt (forward and backward), then a
    validation pass; per seed, the predictions of every cached image.
    """
    cpu, gpu = cpu or CPU, gpu or gpu_kind(config)
    entry = config["datasets"][dataset]
    sizes = dataset_sizes(entry)
    spurious = config.get("spurious") or {}
    _, _, dim, _, _ = profile(config["clip"])
    width = vit_tokens(config["clip"])[1] or dim
    rate = gpu["head_tflops"] * 1e12
    rows = sizes["train"] + sizes["debug"] + sizes["test"]
    if entry.get("kind") not in GROUPED_KINDS:
        epochs = int((config.get("head") or {}).get("epochs", 1000))
        return head_flops(sizes["train"], [0.0], dim, sizes["classes"], epochs) / rate / 3600
    tune = spurious.get("finetune") or {}
    seeds = len(spurious.get("finetune_seeds") or spurious.get("seeds") or [0])
    epochs, batch = int(tune.get("epochs", 300)), int(tune.get("batch_size", 128))
    prompts = sizes["classes"] * max(1, len(spurious.get("templates") or [])) * 2  # class and attribute
    step = cpu.get("finetune_step_s", CPU["finetune_step_s"]) + 6.0 * (batch + prompts) * width * dim / rate
    epoch = math.ceil(sizes["train"] / batch) * step + 2.0 * sizes["debug"] * width * dim / rate
    return seeds * (epochs * epoch + 2.0 * rows * width * dim / rate) / 3600


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
        share = 1000.0
    else:  # cpu, or auto (which may find no GPU): the CPU plan
        share = min(host_gb * 1000, 2 * features_mb + 512)
    read = PARQUET_READ_BYTES / 2 * features_mb  # per float16 value stored: READ bytes (see _read_bytes)
    return int((base + 1000 + read + share) * attempt)



# --- shards: generation jobs that fit a partition (config ``cluster.max_job_hours``) ----------

GENERATION_RULES = ("generate_images", "generate_collective")
# runtime_min declares 1.5 x a job's projected time: shards are sized so that the declared
# time, not only the projected one, fits the bound (SLURM refuses a --time over the limit)
SHARD_RUNTIME_MARGIN = 1.5


def max_job_hours(config: dict[str, Any]) -> float:
    """The bound on one job's projected hours (``cluster.max_job_hours``, default 12)."""
    return float((config.get("cluster") or {}).get("max_job_hours", 12))


def edit_strength(config: dict[str, Any]) -> float:
    """``generator.edit.strength``: img2img runs this share of the denoising steps."""
    return float((config["generator"].get("edit") or {}).get("strength", 0.75))


def generation_shards(config: dict[str, Any], dataset: str, rule: str = "generate_images",
                      gpu: dict | None = None) -> int:
    """Shard jobs (class ranges) that split one set of ``rule`` so each fits ``max_job_hours``.

    Sized for the worst job: the first of ``rule``, which makes all its images itself
    (``generate_images``: a model's individual and random sets; ``generate_collective``:
    a family's set; ``edit_images``: a model's edit set, at ``edit_strength`` of the steps),
    on ``gpu`` (default ``GPU``). At most one shard per class.
    """
    gen = generation(config, dataset)
    images = gen["per_set"] * (2 if rule == "generate_images" else 1)
    hours = sd_seconds(images, config, gpu) / 3600 * (edit_strength(config) if rule == "edit_images" else 1.0)
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
