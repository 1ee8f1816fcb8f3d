"""Linear heads retrained on frozen features: loss = CE(original) + λ·CE(generated).

Several heads (strategies, λ values, generated sets) train in one call: every head sees
the same original data; each has its own generated set and λ. Features are
standardised with the original train set's statistics; a head initialised from the
model's own classifier starts exactly where that classifier was.

Training is full-batch SGD with momentum (one "epoch" is one full-batch step) on the
run's device, in chunks that fit a memory budget (``plan_chunks``): heads train chunk
by chunk (they are independent), and within a chunk the gradient is accumulated over
row chunks, so every step is exactly the full-batch step. The softmax cross-entropy
gradient is written out by hand (in place, no autograd), and heads that share a
generated set share its matmuls.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clipmend.devices import allow_tf32, resolve_device, to_numpy
from clipmend.io import read_torch
from clipmend.progress import ProgressBar
from clipmend.run_settings import RunSettings

GB = 1024**3
FLOAT32 = 4
MIN_ROWS = 2048  # rows per matmul the planner keeps before it splits heads further

Arrays = tuple[np.ndarray, np.ndarray]


@dataclass
class HeadParams:
    """Optimiser settings (the paper's Table 4 by default)."""

    lr: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    epochs: int = 1000
    seed: int = 0


def predict(features: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Arg-max class of a linear head on features."""
    return np.argmax(features @ weight.T + bias, axis=1)


@dataclass
class Head:
    """A trained linear head in original feature space: logits = x @ weight.T + bias."""

    weight: np.ndarray
    bias: np.ndarray

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Arg-max class for each feature row."""
        return predict(features, self.weight, self.bias)


class DevicePredictor:
    """Arg-max predictions of linear heads on one feature matrix, computed on ``device``.

    The features go to the device once, in float32, or in float16 where float32 would take
    over a quarter of ``memory_bytes`` (exact for features read from their float16 files);
    each head's logits are computed in float32 in chunks of ``rows`` rows, and only the
    predicted classes come back to the host. On the CPU a float32 matrix is used in place.
    """

    def __init__(self, features: np.ndarray, device: str | torch.device = "cpu",
                 memory_bytes: int | None = None, rows: int = 8192):
        self.device, self.rows = resolve_device(device), rows
        storage = torch.float32
        if memory_bytes is not None and features.shape[0] * features.shape[1] * FLOAT32 > memory_bytes // 4:
            storage = torch.float16
        self.device_bytes = 0  # what the features take beyond the host's own array
        if self.device.type == "cpu" and storage == torch.float32 and features.dtype == np.float32:
            self.features = torch.from_numpy(np.ascontiguousarray(features))  # the host's array itself
            return
        self.features = torch.empty(features.shape, dtype=storage, device=self.device)
        self.device_bytes = self.features.numel() * self.features.element_size()
        for start in range(0, len(features), rows):
            chunk = torch.from_numpy(np.ascontiguousarray(features[start : start + rows]))
            self.features[start : start + rows] = chunk.to(self.device, storage)

    def __call__(self, head: Head) -> np.ndarray:
        weight = torch.as_tensor(head.weight, dtype=torch.float32, device=self.device)
        bias = torch.as_tensor(head.bias, dtype=torch.float32, device=self.device)
        out = torch.empty(len(self.features), dtype=torch.int64, device=self.device)
        for start in range(0, len(self.features), self.rows):
            x = self.features[start : start + self.rows].float()
            out[start : start + self.rows] = (x @ weight.T + bias).argmax(dim=1)
        return to_numpy(out)


@dataclass(frozen=True)
class ChunkPlan:
    """How one ``train_heads`` call is split: head chunks trained in turn, rows per matmul.

    ``storage`` is the dtype features are kept in on the device (float16 when float32
    would not fit; each row chunk is then upcast to float32 for its matmuls).
    ``peak_bytes`` is the planner's estimate for the largest chunk.
    """

    chunks: tuple[tuple[int, ...], ...]
    rows: int
    storage: torch.dtype = torch.float32
    peak_bytes: int = 0

    def describe(self) -> str:
        sizes = sorted({len(c) for c in self.chunks})
        return (f"{len(self.chunks)} head chunk(s) of {sizes} heads, {self.rows} rows per matmul, "
                f"features in {str(self.storage).removeprefix('torch.')}, "
                f"peak ~{self.peak_bytes / GB:.2f} GB")


def memory_budget(settings: RunSettings, device: str | torch.device) -> int:
    """Bytes head training may use: on CUDA what the device has free, at most ``memory.device_gb``.

    On CUDA: ``torch.cuda.mem_get_info`` (free bytes, after this process's CUDA context)
    less ``clipmend.cost.DEVICE_MARGIN_GB`` for cuBLAS workspaces and the caching
    allocator's fragmentation; the config's ``memory.device_gb`` is an upper bound, so a
    40 GB default never plans past a 24 GB card. Elsewhere ``memory.host_gb``.
    """
    dev = resolve_device(device)
    if dev.type != "cuda":
        return int(settings.host_memory_gb * GB)
    from clipmend.cost import DEVICE_MARGIN_GB

    free = torch.cuda.mem_get_info(dev)[0]
    budget = min(settings.device_memory_gb * GB, free - DEVICE_MARGIN_GB * 1e9)
    if budget <= 0:
        raise RuntimeError(f"device {dev} has {free / GB:.2f} GiB free, less than the "
                           f"{DEVICE_MARGIN_GB} GB margin for workspaces: no room to train heads")
    return int(budget)


def device_options(settings: RunSettings) -> dict[str, Any]:
    """``device`` and ``memory_bytes`` for ``train_heads`` from a run's settings."""
    device = resolve_device(settings.device)
    return {"device": device, "memory_bytes": memory_budget(settings, device)}


def _standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    return mean, np.where(std > 1e-6, std, 1.0).astype(x.dtype)


def _set_keys(generated: Sequence[Arrays], lambdas: Sequence[float]) -> tuple[list[int | None], list[int]]:
    """Per head, the index of its distinct generated set (None: λ = 0 or empty); each set's rows."""
    keys: list[int | None] = []
    seen: dict[tuple[int, int], int] = {}
    rows: list[int] = []
    for (x, y), lam in zip(generated, lambdas):
        if lam <= 0 or len(y) == 0:
            keys.append(None)
            continue
        ident = (id(x), id(y))  # the same arrays (a sweep over λ): their matmuls are shared
        if ident not in seen:
            seen[ident] = len(rows)
            rows.append(len(y))
        keys.append(seen[ident])
    return keys, rows


def _chunk_bytes(feature_rows: int, heads: int, rows: int, dim: int, classes: int, storage_bytes: int) -> int:
    """Estimated device bytes of one head chunk (see ``plan_chunks``)."""
    features = feature_rows * (dim * storage_bytes + 8)  # + int64 labels
    state = 3 * heads * classes * (dim + 1) * FLOAT32  # weights, gradients, momentum
    work = rows * heads * (classes + 4) * FLOAT32 + rows * heads * 16  # logits; row max, sum, index
    work += rows * dim * FLOAT32 * (2 if storage_bytes != FLOAT32 else 1)  # upload / upcast
    return features + state + work


def plan_chunks(
    n_orig: int,
    set_rows: Sequence[int],
    keys: Sequence[int | None],
    dim: int,
    classes: int,
    memory_bytes: int | None,
) -> ChunkPlan:
    """Split heads and rows so the peak stays within ``memory_bytes`` (None: one chunk).

    The estimate counts the chunk's features on the device (the original rows and the
    distinct generated sets of its heads), each head's weights, gradient and momentum,
    and the logits of one row chunk for all heads of the chunk. Features are kept in
    float32 when that fits, else in float16. Heads that share a generated set stay
    together where they can; rows per matmul stay at least ``MIN_ROWS`` (or all rows)
    unless a single head does not fit otherwise.
    """
    n_heads = len(keys)
    max_rows = max([n_orig, *set_rows, 1])
    order = sorted(range(n_heads), key=lambda h: (-1 if keys[h] is None else keys[h]))

    def feature_rows(chunk: Sequence[int]) -> int:
        return n_orig + sum(set_rows[k] for k in {keys[h] for h in chunk} if k is not None)

    def cost(chunk: Sequence[int], rows: int, storage_bytes: int) -> int:
        return _chunk_bytes(feature_rows(chunk), len(chunk), rows, dim, classes, storage_bytes)

    if memory_bytes is None:
        chunk = tuple(order)
        return ChunkPlan((chunk,), max_rows, torch.float32, cost(chunk, max_rows, FLOAT32))
    for storage, size in ((torch.float32, FLOAT32), (torch.float16, 2)):
        floor = min(max_rows, MIN_ROWS)
        while floor >= 1 and any(cost((h,), floor, size) > memory_bytes for h in order):
            floor //= 2
        if floor < 1:
            continue
        chunks: list[list[int]] = [[]]
        for h in order:
            if chunks[-1] and cost([*chunks[-1], h], floor, size) > memory_bytes:
                chunks.append([])
            chunks[-1].append(h)
        cuts = [round(i * n_heads / len(chunks)) for i in range(len(chunks) + 1)]
        even = [order[a:b] for a, b in zip(cuts, cuts[1:])]  # as many chunks, of balanced sizes
        if all(cost(c, floor, size) <= memory_bytes for c in even):
            chunks = even
        rows = floor
        while rows < max_rows and all(cost(c, min(2 * rows, max_rows), size) <= memory_bytes for c in chunks):
            rows = min(2 * rows, max_rows)
        peak = max(cost(c, rows, size) for c in chunks)
        return ChunkPlan(tuple(tuple(c) for c in chunks), rows, storage, peak)
    need = min(cost((h,), 1, 2) for h in order)
    raise MemoryError(
        f"head training needs at least {need / GB:.2f} GB (one head, float16 features) but the "
        f"budget is {memory_bytes / GB:.2f} GB; raise memory.device_gb / memory.host_gb"
    )


def plan_for(
    x_orig: np.ndarray,
    generated: Sequence[Arrays],
    lambdas: Sequence[float],
    num_classes: int,
    memory_bytes: int | None,
) -> ChunkPlan:
    """The plan ``train_heads`` uses for these arguments."""
    keys, set_rows = _set_keys(generated, lambdas)
    return plan_chunks(len(x_orig), set_rows, keys, x_orig.shape[1], num_classes, memory_bytes)


@dataclass
class _Block:
    """Rows some heads of a chunk train on: their features and labels, and each head's weight."""

    x: torch.Tensor  # (n, dim) standardised, in the plan's storage dtype
    y: torch.Tensor  # (n,) int64
    first: int  # heads first .. first + count - 1 of the chunk (in chunk order)
    count: int
    coef: torch.Tensor  # (1, count, 1): 1 / n for the original rows, λ / n for a generated set


def _upload(x: np.ndarray, mean: torch.Tensor, std: torch.Tensor, storage: torch.dtype,
            device: torch.device, rows: int) -> torch.Tensor:
    """Standardised features on the device, piece by piece (the host holds one piece extra)."""
    out = torch.empty((len(x), x.shape[1]), dtype=storage, device=device)
    for i in range(0, len(x), rows):
        piece = torch.as_tensor(x[i : i + rows], device=device)  # on the CPU a view, never written
        if storage == torch.float32:
            torch.sub(piece, mean, out=out[i : i + rows]).div_(std)
        else:
            out[i : i + rows].copy_(piece.sub(mean).div_(std))
    return out


def _labels(y: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(y, dtype=np.int64), device=device)


def _fit_chunk(blocks: Sequence[_Block], weight: torch.Tensor, bias: torch.Tensor, params: HeadParams,
               rows: int, desc: str, progress: bool) -> None:
    """Full-batch SGD with momentum on ``weight`` (heads, C, D) and ``bias`` (heads, C), in place.

    Per step and block, per row chunk: logits = x W^T + b for all the block's heads in one
    matmul, the cross-entropy gradient (softmax - one-hot) · coef in place, then
    grad_W += G^T x and grad_b += sum G. Weight decay, momentum and the update follow
    ``torch.optim.SGD`` exactly. No host synchronisation inside the loop.
    """
    heads, classes, dim = weight.shape
    w, b = weight.view(heads * classes, dim), bias.view(heads * classes)
    grad_w, grad_b = torch.zeros_like(w), torch.zeros_like(b)
    mom_w, mom_b = torch.zeros_like(w), torch.zeros_like(b)
    most = max(min(rows, len(blk.y)) * blk.count for blk in blocks) if blocks else 0
    scratch = torch.empty(most * classes, dtype=torch.float32, device=w.device)
    upcast = None
    if any(blk.x.dtype != torch.float32 for blk in blocks):
        upcast = torch.empty((rows, dim), dtype=torch.float32, device=w.device)
    pieces = []  # (x rows, labels as a scatter index, -coef, weight / gradient slices), fixed per chunk
    for blk in blocks:
        lo, hi = blk.first * classes, (blk.first + blk.count) * classes
        neg = (-blk.coef).view(1, blk.count, 1)
        for i in range(0, len(blk.y), rows):
            xs, ys = blk.x[i : i + rows], blk.y[i : i + rows]
            index = ys.view(-1, 1, 1).expand(-1, blk.count, 1)
            pieces.append((xs, index, neg.expand(len(ys), -1, -1), blk.coef, w[lo:hi], b[lo:hi],
                           grad_w[lo:hi], grad_b[lo:hi]))
    for _ in ProgressBar(range(params.epochs), desc=desc, disable=not progress, mininterval=5):
        grad_w.zero_()
        grad_b.zero_()
        for xs, index, neg, coef, wi, bi, gwi, gbi in pieces:
            if upcast is not None:
                xs = upcast[: len(xs)].copy_(xs)
            n, count = len(xs), index.shape[1]
            logits = scratch[: n * count * classes].view(n, count * classes)
            torch.addmm(bi, xs, wi.T, out=logits)
            grad = logits.view(n, count, classes)
            grad.sub_(grad.amax(dim=2, keepdim=True)).exp_()
            grad.div_(grad.sum(dim=2, keepdim=True).div_(coef))  # softmax · coef
            grad.scatter_add_(2, index, neg)  # - one-hot · coef
            gwi.addmm_(logits.T, xs)
            gbi.add_(logits.sum(dim=0))
        grad_w.add_(w, alpha=params.weight_decay)
        grad_b.add_(b, alpha=params.weight_decay)
        mom_w.mul_(params.momentum).add_(grad_w)
        mom_b.mul_(params.momentum).add_(grad_b)
        w.add_(mom_w, alpha=-params.lr)
        b.add_(mom_b, alpha=-params.lr)


def train_heads(
    x_orig: np.ndarray,
    y_orig: np.ndarray,
    generated: Sequence[Arrays],
    lambdas: Sequence[float],
    num_classes: int,
    params: HeadParams,
    init: Arrays | None = None,
    progress: bool = True,
    *,
    device: str | torch.device = "cpu",
    memory_bytes: int | None = None,
    plan: ChunkPlan | None = None,
    known: Mapping[int, Head] | None = None,
) -> list[Head]:
    """Train one head per (generated set, λ) pair on ``device`` within ``memory_bytes``.

    Each head minimises mean CE(original) + λ · mean CE(its generated set) by full-batch
    SGD with momentum for ``params.epochs`` steps. ``plan`` (default: ``plan_for`` with
    ``memory_bytes``; None means one chunk) only changes how the work is split, never the
    result beyond float rounding. On the ``meta`` device the whole path runs on shapes and
    the heads come back as zeros. Heads in ``known`` (by position, e.g. from ``saved_heads``)
    are returned as given and only the others train (``plan`` then numbers those).
    """
    if len(generated) != len(lambdas):
        raise ValueError(f"{len(generated)} generated sets but {len(lambdas)} lambda values")
    if any(lam < 0 for lam in lambdas):
        raise ValueError(f"lambda must be >= 0, got {list(lambdas)}")
    if known:
        todo = [i for i in range(len(lambdas)) if i not in known]
        fresh = train_heads(x_orig, y_orig, [generated[i] for i in todo], [lambdas[i] for i in todo],
                            num_classes, params, init, progress, device=device,
                            memory_bytes=memory_bytes, plan=plan) if todo else []
        done = dict(known) | dict(zip(todo, fresh))
        return [done[i] for i in range(len(lambdas))]
    dev = resolve_device(device)
    allow_tf32(dev)
    torch.manual_seed(params.seed)
    x_orig = np.asarray(x_orig, dtype=np.float32)
    generated = [(x if getattr(x, "dtype", None) == np.float16 else np.asarray(x, dtype=np.float32),
                  np.asarray(y)) for x, y in generated]  # float16 sets stay half-size on the host
    keys, _ = _set_keys(generated, lambdas)
    if plan is None:
        plan = plan_for(x_orig, generated, lambdas, num_classes, memory_bytes)
    if sorted(h for c in plan.chunks for h in c) != list(range(len(lambdas))):
        raise ValueError(f"the plan's chunks {plan.chunks} do not cover heads 0..{len(lambdas) - 1} once each")
    logging.getLogger(__name__).info("heads x%d on %s: %s", len(lambdas), dev, plan.describe())
    mean_np, std_np = _standardiser(x_orig)
    mean, std = torch.as_tensor(mean_np, device=dev), torch.as_tensor(std_np, device=dev)
    if init is None:
        w0 = torch.zeros(num_classes, x_orig.shape[1], device=dev)
        b0 = torch.zeros(num_classes, device=dev)
    else:  # W x + b = (W·std) z + (b + W·mean) for z = (x - mean) / std
        w_init = torch.as_tensor(np.asarray(init[0], dtype=np.float32), device=dev)
        b_init = torch.as_tensor(np.asarray(init[1], dtype=np.float32), device=dev)
        w0, b0 = w_init * std, b_init + w_init @ mean
    orig = None
    if len(y_orig):
        orig = (_upload(x_orig, mean, std, plan.storage, dev, plan.rows), _labels(y_orig, dev))
    trained: dict[int, Head] = {}
    for number, chunk in enumerate(plan.chunks):
        chunk = sorted(chunk, key=lambda h: (-1 if keys[h] is None else keys[h], h))
        weight = w0.expand(len(chunk), -1, -1).clone()
        bias = b0.expand(len(chunk), -1).clone()
        blocks = []
        if orig is not None:
            coef = torch.full((1, len(chunk), 1), 1.0 / len(y_orig), device=dev)
            blocks.append(_Block(orig[0], orig[1], 0, len(chunk), coef))
        for key in dict.fromkeys(keys[h] for h in chunk):
            if key is None:
                continue
            members = [i for i, h in enumerate(chunk) if keys[h] == key]
            xg, yg = generated[chunk[members[0]]]
            scale = [lambdas[chunk[i]] / len(yg) for i in members]
            coef = torch.tensor(scale, dtype=torch.float32, device=dev).view(1, -1, 1)
            blocks.append(_Block(_upload(xg, mean, std, plan.storage, dev, plan.rows), _labels(yg, dev),
                                 members[0], len(members), coef))
        desc = f"heads x{len(chunk)}" + (f" ({number + 1}/{len(plan.chunks)})" if len(plan.chunks) > 1 else "")
        _fit_chunk(blocks, weight, bias, params, plan.rows, desc, progress)
        for i, h in enumerate(chunk):  # back to the host and to original feature space
            w = to_numpy(weight[i]) / std_np
            b = to_numpy(bias[i]) - w @ mean_np
            trained[h] = Head(weight=w.astype(np.float32), bias=b.astype(np.float32))
        del blocks, weight, bias
    return [trained[h] for h in range(len(lambdas))]


def head_record(heads: Mapping[str, Head], lam: float, params: HeadParams) -> dict[str, Any]:
    """What ``debug_heads.pt`` holds: each strategy's weight and bias, its λ and the optimiser settings."""
    record: dict[str, Any] = {
        name: {"weight": torch.from_numpy(h.weight), "bias": torch.from_numpy(h.bias)}
        for name, h in heads.items()
    }
    return record | {"lambda": lam, "params": asdict(params)}


def saved_heads(record: Mapping[str, Any], params: HeadParams, lam: float) -> dict[str, Head]:
    """The heads of a ``debug_heads.pt`` record when they were trained with ``params`` and ``lam``, else none.

    Keys are the strategies (``baseline`` at λ = 0, ``random`` and ``individual`` at λ =
    ``lam``). Heads whose settings differ must be trained again.
    """
    trained = {"params": record.get("params"), "lambda": record.get("lambda")}
    if trained != {"params": asdict(params), "lambda": lam}:
        logging.getLogger(__name__).info("debug_heads.pt was trained with %s, not %s at lambda %s: not reused",
                                         trained, asdict(params), lam)
        return {}
    return {
        name: Head(weight=value["weight"].numpy(), bias=value["bias"].numpy())
        for name, value in record.items()
        if isinstance(value, Mapping) and "weight" in value
    }



def read_head(path: str | Path) -> tuple[tuple[np.ndarray, np.ndarray] | None, str]:
    """A saved linear head (``own_head.pt``, ``failure_head.pt``) as ``((weight, bias), source)``.

    ``own_head.pt`` of a model without its own classifier holds None: ``(None, "none")``.
    """
    record = read_torch(path)
    if record is None:
        return None, "none"
    return (record["weight"].numpy(), record["bias"].numpy()), record.get("source", "own")
