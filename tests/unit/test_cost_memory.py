"""Memory that fits the card: per-model feature batch sizes, and the head budget from the device."""

import pytest
import torch

from clipmend import cost
from clipmend.debugging import heads
from clipmend.models.features import batch_size_for
from clipmend.models.zoo import PAPER_MODELS
from clipmend.run_settings import RunSettings


@pytest.mark.parametrize("kind", sorted(cost.GPUS))
def test_auto_batch_of_every_paper_model_fits_the_card(kind):
    card = cost.GPUS[kind]["memory_gb"]
    config = {"cluster": {"gpu": kind}, "features": {"batch_size": "auto"}}
    assert len(PAPER_MODELS) == 40
    for name, entry in PAPER_MODELS.items():
        assert entry["arch"] in cost.PROFILES, name  # counted, not the default profile
        batch = cost.feature_batch_size(config, entry)
        assert 1 <= batch <= cost.FEATURE_BATCH_MAX
        assert cost.feature_device_gb(entry, batch) <= card - cost.DEVICE_MARGIN_GB, (name, batch)
        # the largest that fits: twice the batch would not (unless already at the cap)
        if batch < cost.FEATURE_BATCH_MAX:
            assert cost.feature_device_gb(entry, 2 * batch) > card - cost.DEVICE_MARGIN_GB, name


def test_auto_batch_shrinks_only_the_large_activations_on_an_a100():
    config = {"features": {"batch_size": "auto"}}
    sizes = {n: cost.feature_batch_size(config, e) for n, e in PAPER_MODELS.items()}
    assert sizes["resnet50"] == 256 and sizes["dino_vitb16"] == 256
    for name in ("efficientnet_b6", "efficientnet_b7", "efficientnet_b8", "efficientnet_l2"):
        assert sizes[name] < 256, name  # 42-78 GB at 256 on a 40 GB card
    assert cost.feature_batch_size({"features": {"batch_size": 64}}, PAPER_MODELS["efficientnet_l2"]) == 64


def test_run_settings_auto_batch_on_the_cpu_uses_the_host_budget():
    entry = PAPER_MODELS["efficientnet_l2"]
    small = RunSettings(device="cpu", host_memory_gb=8.0)
    assert batch_size_for(small, entry) == cost.auto_batch_size(entry, 8.0, value_bytes=4) < 256
    assert batch_size_for(RunSettings(device="cpu", feature_batch_size=7), entry) == 7
    assert RunSettings.from_config({"features": {"batch_size": "auto"}}).feature_batch_size is None


def fake_cuda(monkeypatch, free_gb, total_gb=80.0):
    """A CUDA device that reports ``free_gb`` of ``total_gb`` free (no GPU needed)."""
    monkeypatch.setattr(heads, "resolve_device", lambda device: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "mem_get_info",
                        lambda device=None: (int(free_gb * 1e9), int(total_gb * 1e9)))


def test_head_budget_is_the_devices_free_memory_less_the_margin(monkeypatch):
    fake_cuda(monkeypatch, free_gb=22.0, total_gb=24.0)  # a 24 GB card
    settings = RunSettings(device="cuda", device_memory_gb=40.0)
    budget = heads.memory_budget(settings, "cuda")
    assert budget == int(22.0e9 - cost.DEVICE_MARGIN_GB * 1e9)  # not the config's 40


def test_head_budget_is_capped_by_memory_device_gb(monkeypatch):
    fake_cuda(monkeypatch, free_gb=79.0)
    assert heads.memory_budget(RunSettings(device="cuda", device_memory_gb=40.0), "cuda") == 40 * heads.GB


def test_a_full_device_says_so(monkeypatch):
    fake_cuda(monkeypatch, free_gb=1.0)
    with pytest.raises(RuntimeError, match="GiB free"):
        heads.memory_budget(RunSettings(device="cuda"), "cuda")


def test_head_flops_are_the_ones_the_head_step_performs():
    """4·N·D·C per head and epoch: the logits matmul and the weight-gradient matmul."""
    assert cost.head_flops(1000, [0.0], 64, 10, 1) == 4 * 1000 * 64 * 10
    assert cost.head_flops(1000, [500.0, 0.0], 64, 10, 2) == 4 * 2500 * 64 * 10 * 2


def test_collect_failures_memory_includes_the_cuda_context():
    from clipmend.config import resolve_models

    config = resolve_models({"models": "paper", "datasets": {"imagenet": {"kind": "imagenet"}}})
    on_gpu = cost.job_memory_gb("collect_failures", config, "imagenet", "swav_resnet50w5")
    on_cpu = cost.job_memory_gb("collect_failures", config, "imagenet", "swav_resnet50w5", cuda=False)
    assert on_gpu - on_cpu == pytest.approx(cost.CUDA_HOST_GB)


def test_unknown_gpu_kind_is_named():
    with pytest.raises(ValueError, match="'v100'.*a100, h100"):
        cost.gpu_kind(name="v100")


def test_spurious_train_memory_grows_with_the_cached_features_it_reads():
    """Broken change caught: spurious_train declaring a fixed 8 GB whatever its data set (a full
    ImageNet train split's cached features and the linear probe's float32 copies need ~17)."""
    from tests.unit.test_shards import load

    config = load("imagenet.yaml")
    sizes = cost.dataset_sizes(config["datasets"]["imagenet"])
    assert sizes["train"] == 30_000  # the shipped config's sample
    small = cost.job_memory_gb("spurious_train", config, "imagenet")
    assert small < 8 and cost.mem_mb("spurious_train", config, "imagenet", floor=8000) == 8000
    config["datasets"]["imagenet"]["options"].pop("train_per_class")
    rows = 1_281_167 + sizes["debug"] + sizes["test"]
    dim, width = 512, 768  # ViT-B-32: embedding and pre-projection width
    by_hand = (cost.GPU_NODE["base_gb"] * cost.GB + cost.INDEX_ROW_BYTES * rows + 2.0 * rows * (width + dim)
               + 4.0 * (rows + 2 * 1_281_167) * dim) / cost.GB
    assert cost.job_memory_gb("spurious_train", config, "imagenet") == pytest.approx(by_hand)
    assert cost.mem_mb("spurious_train", config, "imagenet", floor=8000) >= 1000 * 1.2 * by_hand > 16_000
    waterbirds = cost.dataset_sizes({"kind": "waterbirds"})
    assert waterbirds["train"] + waterbirds["debug"] + waterbirds["test"] == waterbirds["listed"] == 11_788


def test_spurious_train_time_counts_each_fine_tuning_step_of_every_seed():
    """Broken change caught: spurious_train without a time model (its jobs projected at their start-up,
    4 s against the demo's measured 28 s), or one seed counted for the 20 the demo runs."""
    from tests.unit.test_shards import load

    config = load("config.yaml")
    cpu = dict(cost.CPU, finetune_step_s=1e-3)
    flops_free = {"head_tflops": 1e12}  # FLOPs cost nothing: only the steps' dispatch is left
    hours = cost.spurious_train_hours(config, "demo", cpu, flops_free)
    steps = 20 * 30 * -(-6 * 300 // 128)  # finetune_seeds x epochs x ceil(train / batch)
    assert len(config["spurious"]["finetune_seeds"]) == 20
    assert hours * 3600 == pytest.approx(steps * 1e-3, rel=1e-6)
    assert cost.job_hours("spurious_train", config, "demo", cpu=cpu, gpu=flops_free) == hours
    config["spurious"]["finetune_seeds"] = [0]
    assert cost.spurious_train_hours(config, "demo", cpu, flops_free) == pytest.approx(hours / 20)
    imagenet = load("imagenet.yaml")  # no attributes recorded: fine-tuning is skipped, the probe is the job
    probe = cost.head_flops(30_000, [0.0], 512, 1000, int(imagenet["head"]["epochs"]))
    assert cost.spurious_train_hours(imagenet, "imagenet") * 3600 == pytest.approx(
        probe / (cost.GPU["head_tflops"] * 1e12))
