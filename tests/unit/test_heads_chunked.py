"""Head training in memory-bounded chunks: same heads as one full-batch run, on any device."""

import weakref

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import clipmend.debugging.heads as module
from clipmend.debugging.heads import (
    ChunkPlan,
    Head,
    HeadParams,
    device_options,
    head_record,
    memory_budget,
    plan_chunks,
    plan_for,
    saved_heads,
    train_heads,
)
from clipmend.run_settings import RunSettings

PARAMS = HeadParams(epochs=40)
CLASSES = 4


def blobs(n, seed, shift=0.0, dim=6):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    return (rng.normal(size=(n, dim)) + np.eye(CLASSES, dim)[y] * 3 + shift).astype(np.float32), y


def problem():
    """Original rows; a set shared by two λ (a sweep), two sets of their own, a λ = 0 head."""
    x, y = blobs(103, 0)
    shared, own1, own2 = blobs(37, 1, 1.0), blobs(29, 2, -1.0), blobs(11, 3, 0.5)
    generated = [shared, own1, shared, (x[:0], y[:0]), own2]
    lambdas = [0.5, 1.0, 2.0, 0.0, 0.3]
    init = (np.random.default_rng(4).normal(size=(CLASSES, 6)).astype(np.float32),
            np.linspace(-0.2, 0.2, CLASSES).astype(np.float32))
    return x, y, generated, lambdas, init


def autograd_heads(x, y, generated, lambdas, params, init):
    """The reference: each head alone, autograd cross-entropy and ``torch.optim.SGD``."""
    mean, std = x.mean(0), x.std(0)
    z = torch.tensor((x - mean) / std)
    heads = []
    for (xg, yg), lam in zip(generated, lambdas):
        zg = torch.tensor((xg - mean) / std)
        w = torch.tensor(init[0] * std, requires_grad=True)
        b = torch.tensor(init[1] + init[0] @ mean, requires_grad=True)
        opt = torch.optim.SGD([w, b], lr=params.lr, momentum=params.momentum, weight_decay=params.weight_decay)
        for _ in range(params.epochs):
            opt.zero_grad()
            loss = F.cross_entropy(z @ w.T + b, torch.tensor(y))
            if lam > 0 and len(yg):
                loss = loss + lam * F.cross_entropy(zg @ w.T + b, torch.tensor(yg))
            loss.backward()
            opt.step()
        wn = w.detach().numpy() / std
        heads.append(Head(wn, b.detach().numpy() - wn @ mean))
    return heads


def assert_same(a, b, tol=1e-5):
    for ha, hb in zip(a, b, strict=True):
        np.testing.assert_allclose(ha.weight, hb.weight, rtol=tol, atol=tol)
        np.testing.assert_allclose(ha.bias, hb.bias, rtol=tol, atol=tol)


def test_unchunked_matches_autograd_sgd():
    x, y, generated, lambdas, init = problem()
    heads = train_heads(x, y, generated, lambdas, CLASSES, PARAMS, init, progress=False)
    assert_same(heads, autograd_heads(x, y, generated, lambdas, PARAMS, init))


@pytest.mark.parametrize("chunks,rows", [
    (((0, 1, 2, 3, 4),), 7),
    (((0,), (1,), (2,), (3,), (4,)), 103),
    (((4, 0), (3, 2, 1)), 16),
    (((2,), (0, 1, 3, 4)), 1),
])
def test_chunks_of_heads_and_rows_match_the_unchunked_run(chunks, rows):
    x, y, generated, lambdas, init = problem()
    whole = train_heads(x, y, generated, lambdas, CLASSES, PARAMS, init, progress=False)
    chunked = train_heads(x, y, generated, lambdas, CLASSES, PARAMS, init, progress=False,
                          plan=ChunkPlan(chunks, rows))
    assert_same(chunked, whole)


class AllocationMeter(TorchDispatchMode):
    """The peak bytes of tensor storage that torch ops allocate and keep alive (numpy views excluded)."""

    def __init__(self):
        super().__init__()
        self.live: dict[int, tuple[int, list[weakref.ref]]] = {}  # storage pointer -> bytes, its tensors
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if not isinstance(tensor, torch.Tensor):
                continue
            storage = tensor.untyped_storage()
            if storage.data_ptr() in self.live:
                self.live[storage.data_ptr()][1].append(weakref.ref(tensor))
            elif not tensor._is_view() and storage.nbytes():
                self.live[storage.data_ptr()] = (storage.nbytes(), [weakref.ref(tensor)])
        for ptr in [p for p, (_, refs) in self.live.items() if all(r() is None for r in refs)]:
            del self.live[ptr]
        self.peak = max(self.peak, sum(n for n, _ in self.live.values()))
        return out


def measured_peak(*args, **kwargs) -> tuple[list[Head], int]:
    meter = AllocationMeter()
    with meter:
        heads = train_heads(*args, progress=False, **kwargs)
    return heads, meter.peak


def test_the_planner_splits_to_fit_the_budget_and_training_stays_within_it():
    """The memory train_heads really allocates stays within the budget and the plan's estimate."""
    x, y, generated, lambdas, init = problem()
    params = HeadParams(epochs=3)  # the peak is reached in the first step
    reference, unchunked = measured_peak(x, y, generated, lambdas, CLASSES, params, init)
    whole = plan_for(x, generated, lambdas, CLASSES, None)
    assert len(whole.chunks) == 1 and whole.rows == 103
    assert unchunked <= whole.peak_bytes
    # budgets in bytes, below the unchunked peak: heads split; at 6000, rows split too
    for budget in (unchunked // 2, 6000):
        plan = plan_for(x, generated, lambdas, CLASSES, budget)
        assert len(plan.chunks) > 1 and plan.storage == torch.float32
        heads, peak = measured_peak(x, y, generated, lambdas, CLASSES, params, init, memory_bytes=budget)
        assert peak <= plan.peak_bytes <= budget, (peak, plan)
        assert_same(heads, reference)
    assert plan.rows < 16


def test_paper_sized_plan_fits_a_40_gb_device():
    """30k x 2048 original rows, 48 sources of 50k rows, 1000 classes (the collective matrix)."""
    keys = list(range(48))
    plan = plan_chunks(30_000, [50_000] * 48, keys, 2048, 1000, 40 * 1024**3)
    assert plan.peak_bytes <= 40 * 1024**3
    assert sorted(h for c in plan.chunks for h in c) == keys
    assert plan.rows >= 2048
    # a λ sweep: 12 heads share one set, so they train together
    sweep = plan_chunks(30_000, [50_000], [None] + [0] * 11, 2048, 1000, 40 * 1024**3)
    assert len(sweep.chunks) == 1


def test_float16_storage_when_float32_does_not_fit_and_a_clear_error_below_one_head():
    keys = [0, 1]
    roomy = plan_chunks(10_000, [5_000, 5_000], keys, 512, 10, 200 * 1024**2)
    tight = plan_chunks(10_000, [5_000, 5_000], keys, 512, 10, 25 * 1024**2)
    assert roomy.storage == torch.float32 and tight.storage == torch.float16
    with pytest.raises(MemoryError, match="raise memory.device_gb"):
        plan_chunks(10_000, [5_000], [0], 512, 10, 1024**2)
    x, y, generated, lambdas, init = problem()
    half = train_heads(x, y, generated, lambdas, CLASSES, PARAMS, init, progress=False,
                       plan=ChunkPlan(((0, 1, 2, 3, 4),), 16, torch.float16))
    assert_same(half, train_heads(x, y, generated, lambdas, CLASSES, PARAMS, init, progress=False), tol=2e-2)


class DeviceLog(TorchFunctionMode):
    """Every tensor that goes into or comes out of a torch call, by device type."""

    def __init__(self):
        super().__init__()
        self.devices: dict[str, set[str]] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        flat = [*args, *(kwargs or {}).values(), *(out if isinstance(out, tuple | list) else [out])]
        for value in flat:
            if isinstance(value, torch.Tensor):
                self.devices.setdefault(value.device.type, set()).add(getattr(func, "__name__", str(func)))
        return out


def test_meta_device_runs_end_to_end_with_every_tensor_on_it():
    x, y, generated, lambdas, init = problem()
    log = DeviceLog()
    with log:
        heads = train_heads(x, y, generated, lambdas, CLASSES, PARAMS, init, progress=False,
                            device="meta", plan=ChunkPlan(((0, 1), (2, 3, 4)), 16, torch.float16))
    assert set(log.devices) == {"meta"}, log.devices
    assert {"addmm", "addmm_", "scatter_add_"} <= log.devices["meta"]
    assert len(heads) == 5 and all(h.weight.shape == (CLASSES, 6) and h.bias.shape == (CLASSES,) for h in heads)


def test_budget_comes_from_run_settings_by_device():
    settings = RunSettings(device="cpu", device_memory_gb=40, host_memory_gb=3)
    assert memory_budget(settings, "cpu") == 3 * 1024**3
    assert memory_budget(settings, "meta") == 3 * 1024**3
    options = device_options(RunSettings.from_config({"device": "cpu", "memory": {"host_gb": 2.5}}))
    assert options == {"device": torch.device("cpu"), "memory_bytes": int(2.5 * 1024**3)}


def test_saved_heads_are_reused_only_with_the_same_settings(monkeypatch):
    x, y, generated, lambdas, init = problem()
    heads = train_heads(x, y, generated[:2], lambdas[:2], CLASSES, PARAMS, init, progress=False)
    record = head_record({"random": heads[0], "individual": heads[1]}, 0.5, PARAMS)
    assert record["lambda"] == 0.5
    again = saved_heads(record, PARAMS, 0.5)
    np.testing.assert_array_equal(again["individual"].weight, heads[1].weight)
    assert saved_heads(record, HeadParams(epochs=41), 0.5) == {}
    assert saved_heads(record, PARAMS, 1.0) == {}
    assert saved_heads({"lambda": 0.5}, PARAMS, 0.5) == {}  # a debug_heads.pt from before params were recorded
    calls = []
    fit = module._fit_chunk

    def counting(blocks, weight, *args, **kwargs):
        calls.append(len(weight))
        return fit(blocks, weight, *args, **kwargs)

    monkeypatch.setattr(module, "_fit_chunk", counting)
    out = train_heads(x, y, generated, lambdas, CLASSES, PARAMS, init, progress=False,
                      known={1: again["individual"]})
    assert calls == [4] and out[1] is again["individual"]
    assert_same(out, train_heads(x, y, generated, lambdas, CLASSES, PARAMS, init, progress=False))


def test_float16_generated_sets_train_exactly_as_their_float32_values():
    """Collective heads read generated sets as float16 (half the host memory): same heads."""
    from clipmend.debugging.heads import HeadParams, train_heads

    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 8)).astype(np.float32)
    y = rng.integers(0, 3, 60)
    gen = rng.standard_normal((40, 8)).astype(np.float16)
    gy = rng.integers(0, 3, 40)
    params = HeadParams(epochs=5)
    half = train_heads(x, y, [(gen, gy)], [0.5], 3, params, progress=False)[0]
    full = train_heads(x, y, [(gen.astype(np.float32), gy)], [0.5], 3, params, progress=False)[0]
    np.testing.assert_array_equal(half.weight, full.weight)
    np.testing.assert_array_equal(half.bias, full.bias)
