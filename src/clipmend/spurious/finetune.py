"""Fine-tuning CLIP's projections on cached pre-projection features (Yang et al. §3), selected by val WGA.

Each step projects a batch of cached image features and every class (and attribute) prompt,
so a step is a few small matmuls. As in the released code: SGD with momentum, group-balanced
sampling with replacement (weights 1/|group|, one epoch = as many draws as train images),
and the epoch with the best validation worst-group accuracy is kept (ties: the earlier).
``average_last: K`` (a departure, off by default) keeps instead the mean of the weights of the
last K epochs (Polyak averaging, no selection): on the demo, where a validation group holds
~33 images, picking the best of 30 noisy readings is most of the seed-to-seed spread.
The temperature starts, as the released code's new ``logit_scale``, at ``init_temperature``
(0.07: e^θ ≈ 14.3) and is not clamped; ``clamp_logit_scale`` clamps it to [0, ln 100] after each
step as open_clip's trainer does, and ``init_temperature: null`` keeps the CLIP's own.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd
import torch

from clipmend.devices import check_placement, resolve_device, to_numpy
from clipmend.progress import ProgressBar
from clipmend.spurious import losses
from clipmend.spurious.losses import LOSSES, check_form, check_weights, total_loss
from clipmend.spurious.projections import Projections

log = logging.getLogger(__name__)

MAX_LOGIT_SCALE = math.log(100.0)


@dataclass
class FinetuneSettings:
    """Optimiser, sampling and loss settings of one fine-tuning run."""

    # The paper's §5.4 (1e-5 / 1e-4); the README's Waterbirds commands use lr 1e-4 with wd 1e-5.
    lr: float = 1e-5
    weight_decay: float = 1e-4
    momentum: float = 0.9
    epochs: int = 300  # the released code's
    batch_size: int = 128  # the README's for RN50 (32 for ViT-L/14@336)
    seed: int = 0
    init_temperature: float | None = 0.07  # the released code's new logit_scale, log(1/0.07)
    clamp_logit_scale: bool = False  # the released code never clamps it
    weights: dict[str, float] = field(default_factory=lambda: {"clip": 1.0})  # L_CLIP only: plain fine-tuning
    loss_form: str = "paper"
    balanced: bool = True
    pos_weight: float = 1.0  # the code's similarity_loss (loss_form "code" only)
    neg_weight: float = 1.0
    average_last: int = 0  # 0: the epoch of the best validation WGA (the paper); K: the last K epochs' mean weights

    def __post_init__(self) -> None:
        check_weights(self.weights)
        check_form(self.loss_form)
        if not 0 <= self.average_last <= self.epochs:
            raise ValueError(f"finetune setting average_last={self.average_last!r} must be between 0 "
                             f"(select the best validation epoch) and epochs={self.epochs}")
        if self.init_temperature is not None and not self.init_temperature > 0:
            raise ValueError(f"finetune setting init_temperature={self.init_temperature!r} must be > 0 or null")
        for name in ("lr", "epochs", "batch_size"):
            if not getattr(self, name) > 0:
                raise ValueError(f"finetune setting {name}={getattr(self, name)!r} must be > 0")

    @classmethod
    def from_config(cls, config: Mapping) -> FinetuneSettings:
        """Settings from a config mapping; unknown keys, losses or forms raise a one-line error."""
        valid = [f.name for f in fields(cls)]
        for key in config:
            if key not in valid:
                raise ValueError(f"unknown finetune setting {key!r}; valid: {valid}")
        return cls(**{k: dict(v) if k == "weights" else v for k, v in config.items()})


@dataclass
class GroupedFeatures:
    """One split's cached pre-projection image features with labels, attribute ids and group ids (tensors or arrays)."""

    pre: torch.Tensor | np.ndarray
    labels: torch.Tensor | np.ndarray
    attributes: torch.Tensor | np.ndarray
    groups: torch.Tensor | np.ndarray

    def __post_init__(self) -> None:
        lengths = {name: len(getattr(self, name)) for name in ("pre", "labels", "attributes", "groups")}
        if len(set(lengths.values())) > 1 or not lengths["labels"]:
            raise ValueError(f"GroupedFeatures: fields must be non-empty and of one length; got {lengths}")


def _tensor(x, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    return torch.as_tensor(x, dtype=dtype).to(device)


def class_embeddings(projections: Projections, class_text_pre: torch.Tensor) -> torch.Tensor:
    """(C, D) zero-shot class embeddings: the normalised template mean of the projected class prompts."""
    return losses.class_embeddings(projections.texts(class_text_pre), "paper")


@torch.no_grad()
def zero_shot_logits(projections: Projections, image_pre: torch.Tensor, class_text_pre: torch.Tensor,
                     batch_size: int = 1024) -> torch.Tensor:
    """(N, C) logits e^θ·f·wᵀ, w the normalised template mean of each class's projected prompts."""
    weights = class_embeddings(projections, class_text_pre)
    scale = projections.scale()
    return torch.cat([scale * projections.images(image_pre[i:i + batch_size]) @ weights.T
                      for i in range(0, len(image_pre), batch_size)])


#: rows per chunk of ``predict``: its float32 copy and logits stay chunk-sized (ImageNet's 1.33 M
#: images x 1,000 classes would be 5.3 GB of logits at once)
PREDICT_CHUNK = 65536


@torch.no_grad()
def predict(projections: Projections, image_pre: torch.Tensor, class_text_pre: torch.Tensor,
            chunk: int = PREDICT_CHUNK) -> np.ndarray:
    """Zero-shot class of each image (on the host), ``chunk`` rows at a time (any float dtype in)."""
    out = [zero_shot_logits(projections, image_pre[i:i + chunk].float(), class_text_pre).argmax(1)
           for i in range(0, len(image_pre), chunk)]
    return to_numpy(torch.cat(out), dtype=np.int64) if out else np.zeros(0, dtype=np.int64)


def _group_accuracies(correct: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """(average, worst-group) accuracy."""
    worst = min(correct[groups == g].mean() for g in np.unique(groups))
    return float(correct.mean()), float(worst)


def _draws(groups: np.ndarray, balanced: bool, gen: torch.Generator) -> torch.Tensor:
    """One epoch's order of train indices: group-balanced draws with replacement, or a shuffle."""
    n = len(groups)
    if not balanced:
        return torch.randperm(n, generator=gen)
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    return torch.multinomial(torch.as_tensor(1.0 / counts[inverse]), n, replacement=True, generator=gen)


def finetune(projections: Projections, train: GroupedFeatures, val: GroupedFeatures, class_text_pre,
             attribute_text_pre, settings: FinetuneSettings, device: str | torch.device = "cpu",
             progress: bool = True, spurious=None) -> tuple[Projections, pd.DataFrame]:
    """Train a copy of ``projections``; return the best epoch's (or the last epochs' mean, ``average_last``;
    on ``device``) and the per-epoch history.

    ``class_text_pre`` (C, T, W) and ``attribute_text_pre`` (A, T, W, or None when no enabled
    loss needs it) are pre-projection text features; ``spurious`` (C, A) bool marks each class's
    spurious attributes among them (L_ls; None: all). ``train.attributes`` is what L_vs groups by
    (paper form: the class's spurious attribute present, 0/1). History columns: epoch, one per enabled
    loss (its mean over the epoch's steps), val_average_accuracy, val_worst_group_accuracy, selected
    (the kept epoch, or the averaged ones).
    """
    dev = resolve_device(device)
    proj = copy.deepcopy(projections).to(dev)
    if settings.init_temperature is not None:
        with torch.no_grad():
            proj.logit_scale.fill_(math.log(1.0 / settings.init_temperature))
    check_placement(proj, dev, "finetune projections")
    x, y, s = _tensor(train.pre, dev), _tensor(train.labels, dev, torch.long), \
        _tensor(train.attributes, dev, torch.long)
    x_val = _tensor(val.pre, dev)
    class_pre = _tensor(class_text_pre, dev)
    attr_pre = None if attribute_text_pre is None else _tensor(attribute_text_pre, dev)
    mask = None if spurious is None else _tensor(spurious, dev, torch.bool)
    opt = torch.optim.SGD(proj.parameters(), lr=settings.lr, momentum=settings.momentum,
                          weight_decay=settings.weight_decay)
    gen = torch.Generator().manual_seed(settings.seed)
    active = [name for name in LOSSES if settings.weights.get(name, 0) > 0]
    if "ls" not in active and not ("vs" in active and settings.loss_form == "code"):
        attr_pre = None  # no enabled loss reads the attribute prompts: don't project them each step
    rows, best, best_wga = [], None, -1.0
    averaged = None  # running sum of the last ``average_last`` epochs' weights
    bar = ProgressBar(range(1, settings.epochs + 1), desc="finetune", disable=not progress)
    for epoch in bar:
        order = _draws(np.asarray(train.groups), settings.balanced, gen).to(dev)
        sums = {name: torch.zeros((), device=dev) for name in active}
        steps = 0
        for start in range(0, len(order), settings.batch_size):
            idx = order[start:start + settings.batch_size]
            loss, parts = total_loss(
                settings.weights, settings.loss_form, f=proj.images(x[idx]), y=y[idx], s=s[idx],
                t=proj.texts(class_pre), a=None if attr_pre is None else proj.texts(attr_pre),
                scale=proj.scale(), pos_weight=settings.pos_weight, neg_weight=settings.neg_weight,
                spurious=mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if settings.clamp_logit_scale:
                with torch.no_grad():
                    proj.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
            for name, value in parts.items():
                sums[name] += value
            steps += 1
        correct = predict(proj, x_val, class_pre) == np.asarray(val.labels)
        average, worst = _group_accuracies(correct, np.asarray(val.groups))
        rows.append({"epoch": epoch, **{n: float(to_numpy(v / steps)) for n, v in sums.items()},
                     "val_average_accuracy": average, "val_worst_group_accuracy": worst})
        if settings.average_last and epoch > settings.epochs - settings.average_last:
            with torch.no_grad():
                state = {k: v.detach().clone() for k, v in proj.state_dict().items()}
                averaged = state if averaged is None else {
                    k: averaged[k] + v if v.is_floating_point() else v for k, v in state.items()}
        elif not settings.average_last and worst > best_wga:
            best, best_wga = copy.deepcopy(proj), worst
        bar.set_postfix(val_wga=f"{worst:.3f}", best=f"{best_wga:.3f}")
        log.info("finetune epoch %d: val average %.4f, worst group %.4f", epoch, average, worst)
    history = pd.DataFrame(rows)
    if settings.average_last:
        best = copy.deepcopy(proj)
        best.load_state_dict({k: v / settings.average_last if v.is_floating_point() else v
                              for k, v in averaged.items()})
        history["selected"] = history["epoch"] > settings.epochs - settings.average_last
    else:
        history["selected"] = history["val_worst_group_accuracy"].to_numpy().argmax() == np.arange(len(history))
    return best, history
