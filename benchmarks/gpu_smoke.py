"""GPU smoke test: the demo DAG and a paper-size head job on CUDA, with throughput figures.

Usage: python benchmarks/gpu_smoke.py [--device cuda] [--epochs 20] [--skip-dag] [--cores 16]
                                     [--world] [--skip-ratios]

1. Runs ``snakemake all_models`` on the demo config with ``device`` set, from empty results
   in a temporary directory, and prints its wall time and the time per rule (every model,
   CLIP, training and head on the device: a model left on the CPU fails the run).
2. Trains heads at the paper's size (30 000 train rows of 2048 features, 1000 classes,
   three heads — baseline, random, individual — with 50 000 generated rows each) for
   ``--epochs`` full-batch steps on the device within the config's memory budget, and
   prints steps per second, achieved TFLOP/s (4·N·D·C per head and epoch, the FLOPs the
   head step performs) and the projected time of 1000 epochs.
3. One table of each part against its bare counterpart at the same settings, same device:
   generation (clipmend's diffusers generator) vs diffusers' bare pipeline loop, goal >= 0.9;
   feature extraction (``models.features.extract``: decoding, batching, autocast) vs a bare
   forward over the decoded batches, goal >= 0.8; head training (``train_heads``) vs bare
   matmuls of the same shapes (logits and weight gradient per epoch), goal >= 0.7. Ratio =
   bare seconds / clipmend seconds (1: no overhead).
4. ``--world``: the real-path test's world (tests/real_world.py: ImageFolder data, a user's
   checkpoint, MoCo, open_clip, SmolLM2 behind llama.cpp's server, tiny SD) runs
   ``all_models``, ``paper`` and ``spurious`` on ``--device`` and on the CPU, and every
   metric of every CSV under results/ is compared: the largest absolute difference must be
   <= WORLD_TOLERANCE (0.1: features in fp16 autocast and TF32 head matmuls on CUDA move a
   prediction or two of the world's 18 test images, 1/18 = 0.056 each).

Run it whenever a GPU is lent; with ``--device cpu`` it checks itself on a CPU at a small
size (``--small``). Exit status 2: the device is not there.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))  # tests.tiny_diffusion, tests.real_world

from rule_times import load, summarise  # noqa: E402

import clipmend._torchvision_fix  # noqa: E402, F401  (before timm, open_clip, diffusers)
from clipmend.cost import HEAD_FLOPS_PER_NDC  # noqa: E402
from clipmend.debugging.heads import HeadParams, train_heads  # noqa: E402
from clipmend.devices import resolve_device, synchronize  # noqa: E402

WORLD_TOLERANCE = 0.1
GOALS = {"generation": 0.9, "extraction": 0.8, "heads": 0.7}


def run_dag(device: str, cores: int, small: bool) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    config["device"] = device
    if small:  # a CPU self-check: two models, few images, one epoch
        world = config["datasets"]["demo"]["options"]
        world.update(n_train_per_class=40, n_val_per_class=20, n_test_per_class=10, n_clip_per_class=40)
        config["generator"]["options"]["world"] = world
        config["models"] = {m: config["models"][m] for m in ("resnet10t", "vit_d4")}
        config["train"]["epochs"] = config["clip"]["train"]["epochs"] = 1
        config["generator"].update(k=2, images_per_background=2)
        config["head"]["epochs"] = 10
    with tempfile.TemporaryDirectory(prefix="gpu_smoke_") as tmp:
        workdir = Path(tmp)
        (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        cmd = [str(Path(sys.executable).with_name("snakemake")), "-s", str(REPO / "Snakefile"),
               "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"),
               "--cores", str(cores), "all_models"]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        wall = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stderr[-4000:])
            raise SystemExit(f"demo DAG failed on {device} after {wall:.0f} s")
        table = summarise(load(workdir / "benchmarks" / "runs"))
        print(f"demo DAG on {device}: all_models from empty results in {wall:.1f} s wall "
              f"({len(config['models'])} models, --cores {cores})")
        print(table[["jobs", "total_s", "mean_s", "max_rss_mb"]].to_string(float_format=lambda v: f"{v:.1f}"))
        summary = (workdir / "results" / "demo" / "summary.csv").read_text()
        print("summary.csv:\n" + summary)


def head_job(device: str, epochs: int, small: bool, memory_gb: float) -> None:
    n, dim, classes, generated = (30_000, 2048, 1000, 50_000) if not small else (3000, 256, 100, 5000)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    y = rng.integers(0, classes, n)
    sets = [(x[:0], y[:0])] + [(rng.standard_normal((generated, dim), dtype=np.float32),
                                 rng.integers(0, classes, generated)) for _ in range(2)]
    lambdas = [0.0, 0.5, 0.5]
    dev = resolve_device(device)
    params = HeadParams(epochs=epochs)
    train_heads(x, y, sets, lambdas, classes, HeadParams(epochs=1), device=dev,
                memory_bytes=int(memory_gb * 1e9), progress=False)  # warm-up: kernels, allocator
    synchronize(dev)
    start = time.perf_counter()
    train_heads(x, y, sets, lambdas, classes, params, device=dev, memory_bytes=int(memory_gb * 1e9),
                progress=False)
    synchronize(dev)
    seconds = time.perf_counter() - start
    rows = 3 * n + 2 * generated  # every head sees the original rows; two heads their generated set
    flop = HEAD_FLOPS_PER_NDC * rows * dim * classes * epochs  # logits and the weight gradient
    peak = torch.cuda.max_memory_allocated(dev) / 1e9 if dev.type == "cuda" else float("nan")
    print(f"head job on {dev}: {n} x {dim} features, {classes} classes, 3 heads, "
          f"{generated} generated rows per set, {epochs} epochs in {seconds:.2f} s")
    print(f"  {epochs / seconds:.1f} epochs/s, {flop / seconds / 1e12:.2f} TFLOP/s achieved, "
          f"peak device memory {peak:.1f} GB (budget {memory_gb} GB)")
    print(f"  projected 1000 epochs (the paper's): {1000 * seconds / epochs / 60:.1f} min per debug_heads job")


def timed(fn, dev: torch.device, repeats: int = 1) -> float:
    """Seconds of ``fn()`` (best of ``repeats``, after one warm-up call), device synchronised."""
    fn()
    synchronize(dev)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(dev)
        best = min(best, time.perf_counter() - start)
    return best


def ratio_generation(dev: torch.device, small: bool, tmp: Path) -> tuple[float, float]:
    """(clipmend s, bare s): the diffusers generator vs diffusers' own pipeline call loop."""
    from clipmend.generation.diffusion import DiffusersGenerator
    from clipmend.generation.requests import ImageRequest

    if small or dev.type != "cuda":
        from tests.tiny_diffusion import build_tiny_pipeline

        model, steps, size, batch, n = str(build_tiny_pipeline(tmp / "tiny-sd")), 2, 64, 2, 4
    else:  # the paper's generator, as cached by the machine (HF_HUB_OFFLINE)
        model, steps, size, batch, n = "stable-diffusion-v1-5/stable-diffusion-v1-5", 50, 512, 8, 16
    gen = DiffusersGenerator(model=model, device=str(dev), steps=steps, height=size, width=size,
                             batch_size=batch)
    requests = [ImageRequest("cat", 0, f"bg{i}", f"a photo of a cat on bg{i}", i) for i in range(n)]
    pipe = gen.load()

    def ours() -> None:
        list(gen.generate(requests))

    def bare() -> None:
        for start in range(0, n, batch):
            chunk = requests[start:start + batch]
            pipe(prompt=[r.prompt for r in chunk], num_inference_steps=steps, guidance_scale=gen.guidance,
                 height=size, width=size, generator=[torch.Generator("cpu").manual_seed(r.seed) for r in chunk])

    return timed(ours, dev), timed(bare, dev)


def ratio_extraction(dev: torch.device, small: bool, tmp: Path) -> tuple[float, float]:
    """(clipmend s, bare s): ``extract`` over image files vs the forward over decoded batches."""
    import contextlib

    import timm
    import timm.data
    from PIL import Image

    from clipmend.models.features import extract

    arch, px, n, batch = ("resnet10t", 64, 64, 32) if small else ("resnet50", 224, 1024, 256)
    model = timm.create_model(arch, pretrained=False, num_classes=0).eval().to(dev)
    cfg = timm.data.resolve_data_config({"input_size": (3, px, px)}, model=model)
    transform = timm.data.create_transform(**cfg)
    rng = np.random.default_rng(0)
    refs = []
    for i in range(n):
        path = tmp / f"img{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (px * 3 // 2, px * 2, 3), dtype=np.uint8)).save(path)
        refs.append(str(path))
    decoded = torch.stack([transform(Image.open(r).convert("RGB")) for r in refs])
    amp = torch.autocast("cuda") if dev.type == "cuda" else contextlib.nullcontext()

    def ours() -> None:
        extract(model, transform, refs, batch, dev, desc="smoke", module=model)

    @torch.no_grad()
    def bare() -> None:
        for start in range(0, n, batch):
            with amp:
                model(decoded[start:start + batch].to(dev, non_blocking=True)).float().cpu()

    return timed(ours, dev), timed(bare, dev)


def ratio_heads(dev: torch.device, small: bool) -> tuple[float, float]:
    """(clipmend s, bare s): ``train_heads`` vs the same matmuls (logits, weight gradient) bare."""
    n, dim, classes, generated, epochs = (2000, 128, 50, 2000, 5) if small else (30_000, 2048, 1000, 50_000, 10)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    y = rng.integers(0, classes, n)
    g = (rng.standard_normal((generated, dim), dtype=np.float32), rng.integers(0, classes, generated))
    params = HeadParams(epochs=epochs)

    def ours() -> None:
        train_heads(x, y, [g], [0.5], classes, params, device=dev, progress=False)

    xs = [torch.as_tensor(x, device=dev), torch.as_tensor(g[0], device=dev)]
    w = torch.zeros(classes, dim, device=dev)
    grad = torch.zeros_like(w)

    def bare() -> None:
        for _ in range(epochs):
            for xi in xs:
                logits = xi @ w.T
                grad.addmm_(logits.T, xi)

    return timed(ours, dev), timed(bare, dev)


def ratios(dev: torch.device, small: bool) -> None:
    """One table: each part vs its bare counterpart, ratio = bare s / clipmend s."""
    with tempfile.TemporaryDirectory(prefix="gpu_smoke_ratios_") as tmp:
        rows = [("generation", *ratio_generation(dev, small, Path(tmp))),
                ("extraction", *ratio_extraction(dev, small, Path(tmp))),
                ("heads", *ratio_heads(dev, small))]
    print(f"\n| part on {dev} | clipmend s | bare s | ratio (bare / clipmend) | goal |")
    print("| --- | --- | --- | --- | --- |")
    for part, ours, bare in rows:
        verdict = "OK" if bare / ours >= GOALS[part] else "below"
        print(f"| {part} | {ours:.3f} | {bare:.3f} | {bare / ours:.2f} | >= {GOALS[part]} {verdict} |")


def world_metrics(results: Path) -> dict[tuple[str, str, int], float]:
    """Every numeric cell of every CSV under ``results``, keyed by (file, column, row)."""
    import pandas as pd

    cells = {}
    for csv in sorted(results.rglob("*.csv")):
        table = pd.read_csv(csv).select_dtypes("number")
        for column in table.columns:
            for i, value in enumerate(table[column]):
                cells[(str(csv.relative_to(results)), column, i)] = float(value)
    return cells


def run_world(device: str, cores: int) -> None:
    """The real-path world on ``device`` and on the CPU; their metrics compared."""
    import shutil

    from tests.integration.test_llm_llamacpp import _free_port, _gguf_path, _wait_ready
    from tests.real_world import build_real_world, demo_blocker

    with tempfile.TemporaryDirectory(prefix="gpu_smoke_world_") as tmp:
        root = Path(tmp)
        port = _free_port()
        log_path = root / "llama.log"
        with open(log_path, "wb") as log:
            server = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(_gguf_path()),
                                       "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024",
                                       "--n_threads", "1"], stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(server, f"http://127.0.0.1:{port}/v1/models", log_path)
            build_real_world(root / "cpu", f"http://127.0.0.1:{port}/v1")
            shutil.copytree(root / "cpu", root / "dev")  # the same files; the LLM cache is shared
            metrics, walls = {}, {}
            for name, dev in (("cpu", "cpu"), ("dev", device)):
                config = yaml.safe_load((root / name / "config.yaml").read_text())
                config["device"] = dev
                (root / name / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
                env = {**os.environ, "HF_HUB_OFFLINE": "1", **demo_blocker(root / name / "no-demo")}
                start = time.perf_counter()
                for target in ("all_models", "paper", "spurious"):
                    done = subprocess.run([str(Path(sys.executable).with_name("snakemake")), "-s",
                                           str(REPO / "Snakefile"), "--directory", str(root / name),
                                           "--configfile", str(root / name / "config.yaml"),
                                           "--cores", str(cores), target],
                                          capture_output=True, text=True, env=env)
                    if done.returncode:
                        print(done.stderr[-4000:])
                        raise SystemExit(f"real-path world: {target} failed on {dev}")
                walls[dev] = time.perf_counter() - start
                metrics[dev] = world_metrics(root / name / "results")
        finally:
            server.terminate()
            server.wait(timeout=30)
    ref, got = metrics["cpu"], metrics[device]
    missing = sorted(set(ref) ^ set(got))
    diffs = {k: abs(ref[k] - got[k]) for k in set(ref) & set(got)
             if not (np.isnan(ref[k]) and np.isnan(got[k]))}
    worst = max(diffs.items(), key=lambda kv: kv[1], default=((None, None, None), 0.0))
    print(f"\nreal-path world (all_models, paper, spurious): {walls['cpu']:.0f} s on cpu, "
          f"{walls[device]:.0f} s on {device}; {len(diffs)} metric cells compared, "
          f"{len(missing)} in one run only")
    print(f"  largest difference {worst[1]:.4f} at {worst[0]} (tolerance {WORLD_TOLERANCE})")
    if missing or worst[1] > WORLD_TOLERANCE:
        raise SystemExit(f"real-path world: {device} differs from cpu beyond {WORLD_TOLERANCE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    parser.add_argument("--memory-gb", type=float, default=40.0, help="the head job's device budget")
    parser.add_argument("--skip-dag", action="store_true")
    parser.add_argument("--small", action="store_true", help="small sizes, for a check on a CPU")
    parser.add_argument("--skip-ratios", action="store_true", help="skip the table against bare loops")
    parser.add_argument("--world", action="store_true",
                        help="run the real-path world on the device and on the CPU and compare")
    args = parser.parse_args()
    try:
        resolve_device(args.device)
    except (RuntimeError, ValueError) as err:
        print(f"gpu_smoke: {err}")
        raise SystemExit(2) from None
    if args.device.startswith("cuda"):
        print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    head_job(args.device, args.epochs, args.small, args.memory_gb)
    if not args.skip_ratios:
        ratios(resolve_device(args.device), args.small)
    if args.world:
        run_world(args.device, args.cores)
    if not args.skip_dag:
        run_dag(args.device, args.cores, args.small)


if __name__ == "__main__":
    main()
