"""Linear heads retrained on frozen features: loss = CE(original) + λ·CE(generated).

Several heads (strategies, λ values) train together as one batched head: every head
sees the same original data; each has its own generated set and λ. Features are
standardised with the original train set's statistics; a head initialised from the
model's own classifier starts exactly where that classifier was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm


@dataclass
class HeadParams:
    """Optimiser settings (the paper's Table 4 by default)."""

    lr: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    epochs: int = 1000
    seed: int = 0


@dataclass
class Head:
    """A trained linear head in original feature space: logits = x @ weight.T + bias."""

    weight: np.ndarray
    bias: np.ndarray

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Arg-max class for each feature row."""
        return np.argmax(features @ self.weight.T + self.bias, axis=1)


def _standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    return mean, np.where(std > 1e-6, std, 1.0)


def train_heads(
    x_orig: np.ndarray,
    y_orig: np.ndarray,
    generated: Sequence[tuple[np.ndarray, np.ndarray]],
    lambdas: Sequence[float],
    num_classes: int,
    params: HeadParams,
    init: tuple[np.ndarray, np.ndarray] | None = None,
    progress: bool = True,
) -> list[Head]:
    """Train one head per (generated set, λ) pair, all in one batched full-batch SGD run."""
    if len(generated) != len(lambdas):
        raise ValueError(f"{len(generated)} generated sets but {len(lambdas)} lambda values")
    if any(lam < 0 for lam in lambdas):
        raise ValueError(f"lambda must be >= 0, got {list(lambdas)}")
    torch.manual_seed(params.seed)
    mean, std = _standardiser(x_orig)
    to_t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    xo = to_t((x_orig - mean) / std)
    yo = torch.as_tensor(np.asarray(y_orig), dtype=torch.long)
    gens = [(to_t((x - mean) / std), torch.as_tensor(np.asarray(y), dtype=torch.long))
            for x, y in generated]
    n_heads, dim = len(lambdas), xo.shape[1]
    if init is None:
        w0, b0 = torch.zeros(num_classes, dim), torch.zeros(num_classes)
    else:  # W x + b = (W·std) z + (b + W·mean) for z = (x - mean) / std
        w_init, b_init = to_t(init[0]), to_t(init[1])
        w0, b0 = w_init * to_t(std), b_init + w_init @ to_t(mean)
    weight = w0.expand(n_heads, -1, -1).clone().requires_grad_(True)
    bias = b0.expand(n_heads, -1).clone().requires_grad_(True)
    opt = torch.optim.SGD([weight, bias], lr=params.lr, momentum=params.momentum,
                          weight_decay=params.weight_decay)
    for _ in tqdm(range(params.epochs), desc=f"heads x{n_heads}", disable=not progress, mininterval=5):
        opt.zero_grad(set_to_none=True)
        logits = torch.einsum("nd,hcd->hnc", xo, weight) + bias[:, None, :]
        loss = F.cross_entropy(logits.reshape(-1, num_classes), yo.repeat(n_heads), reduction="sum") / len(yo)
        for h, ((xg, yg), lam) in enumerate(zip(gens, lambdas)):
            if lam > 0 and len(yg):
                loss = loss + lam * F.cross_entropy(xg @ weight[h].T + bias[h], yg)
        loss.backward()
        opt.step()
    heads = []
    for h in range(n_heads):
        w = weight[h].detach().numpy() / std
        heads.append(Head(weight=w.astype(np.float32), bias=(bias[h].detach().numpy() - w @ mean).astype(np.float32)))
    return heads
