"""Training the demo's own backbones and CLIP from scratch (the demo has no pretrained weights)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from clipmend import _torchvision_fix  # noqa: F401  (before timm/open_clip/diffusers import torchvision)
from clipmend.devices import check_placement, resolve_device
from clipmend.models.features import batched_tensors
from clipmend.progress import ProgressBar

log = logging.getLogger(__name__)


@dataclass
class TrainParams:
    """Optimiser settings for training from scratch."""

    epochs: int = 3
    lr: float = 2e-3
    weight_decay: float = 0.05
    batch_size: int = 128
    seed: int = 0
    channels_last: bool = False  # the model and batches channels-last (convolutions: less CPU time; other numerics)


def _preload(refs: Sequence[str], transform) -> torch.Tensor:
    return torch.cat(list(batched_tensors(refs, transform, 512)))


def _schedule(opt: torch.optim.Optimizer, total_steps: int):
    """Linear warm-up over the first 10% of steps, then cosine decay (any number of steps)."""
    total = max(total_steps, 1)
    warmup = max(1, total // 10)

    def factor(step: int) -> float:
        return min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _fit(model: torch.nn.Module, n: int, params: TrainParams, batch_loss, desc: str, stat: str,
         device: torch.device) -> None:
    """The shared loop: seeded shuffles, AdamW, warm-up + cosine, one step per batch.

    ``batch_loss(idx)`` returns ``(loss, summed statistic)``; its per-image mean is logged
    as ``stat``. The model must be on ``device`` already.
    """
    check_placement(model, device, desc)
    opt = torch.optim.AdamW(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    steps_per_epoch = -(-n // params.batch_size)
    sched = _schedule(opt, params.epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(params.seed)
    model.train()
    for epoch in range(params.epochs):
        order = torch.randperm(n, generator=gen)
        total = torch.zeros((), device=device)  # summed on the device: no sync per step
        for start in ProgressBar(range(0, n, params.batch_size), desc=f"{desc} epoch {epoch + 1}", mininterval=5):
            idx = order[start : start + params.batch_size]
            loss, value = batch_loss(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += value
        if device.type != "meta":
            log.info("%s epoch %d: %s %.3f", desc, epoch + 1, stat, float(total) / n)
    model.eval()


def _host_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu") if not v.is_meta else v for k, v in model.state_dict().items()}


def train_classifier(model: torch.nn.Module, transform, refs: Sequence[str], labels: np.ndarray,
                     params: TrainParams, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Train a timm classifier on the referenced images on ``device``; return its state dict (on the host).

    Images are decoded once into host memory; each batch moves to the device. ``params.channels_last``
    trains in channels-last memory format (on the CPU, a step of the demo's convolutional nets takes
    5-60% less time; the weights differ by the order of float operations, so it is a training setting).
    """
    dev = resolve_device(device)
    torch.manual_seed(params.seed)
    model.to(dev)
    x = _preload(refs, transform)
    if params.channels_last:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.as_tensor(labels, dtype=torch.long)

    def batch_loss(idx: torch.Tensor):
        yb = y[idx].to(dev)
        logits = model(x[idx].to(dev, non_blocking=True))
        return F.cross_entropy(logits, yb), (logits.argmax(1) == yb).sum()

    _fit(model, len(y), params, batch_loss, desc="train", stat="train accuracy", device=dev)
    return _host_state(model)


def train_clip(model, preprocess, tokenizer, refs: Sequence[str], captions: Sequence[str],
               params: TrainParams, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Train an open_clip model with its own contrastive loss on ``device``; return its state dict (on the host)."""
    from open_clip.loss import ClipLoss

    dev = resolve_device(device)
    torch.manual_seed(params.seed)
    model.to(dev)
    x = _preload(refs, preprocess)
    tokens = tokenizer(list(captions))
    loss_fn = ClipLoss()

    def batch_loss(idx: torch.Tensor):
        out = model(x[idx].to(dev, non_blocking=True), tokens[idx].to(dev))
        if isinstance(out, dict):
            out = (out["image_features"], out["text_features"], out["logit_scale"])
        loss = loss_fn(*out[:3])
        return loss, loss.detach() * len(idx)

    _fit(model, len(x), params, batch_loss, desc="clip", stat="contrastive loss", device=dev)
    return _host_state(model)
