"""Failures of models without a classifier: a baseline head trained on the train split."""

from __future__ import annotations

import numpy as np
import pytest

from clipmend.debugging.failures import failure_head
from clipmend.debugging.heads import HeadParams, train_heads

PARAMS = HeadParams(lr=0.2, momentum=0.9, weight_decay=5e-4, epochs=50, seed=0)


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three separable Gaussian classes in 4-d."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return (rng.normal(size=(n, 4)) + np.eye(3, 4)[y] * 3).astype(np.float32), y


def test_auto_uses_the_models_own_head():
    x, y = blobs(60, 0)
    own = (np.eye(3, 4, dtype=np.float32), np.zeros(3, dtype=np.float32))
    weight, bias, source = failure_head("auto", own, x, y, 3, PARAMS)
    assert source == "own" and weight is own[0] and bias is own[1]


def test_a_model_without_head_gets_the_baseline_head():
    x, y = blobs(90, 0)
    weight, bias, source = failure_head("auto", None, x, y, 3, PARAMS)
    assert source == "train" and weight.shape == (3, 4) and bias.shape == (3,)
    expected = train_heads(x, y, [(x[:0], y[:0])], [0.0], 3, PARAMS, progress=False)[0]
    assert np.array_equal(weight, expected.weight) and np.array_equal(bias, expected.bias)
    test_x, test_y = blobs(200, 1)
    assert ((test_x @ weight.T + bias).argmax(1) == test_y).mean() > 0.9


def test_train_mode_ignores_the_own_head_and_own_mode_requires_one():
    x, y = blobs(60, 0)
    own = (np.zeros((3, 4), dtype=np.float32), np.zeros(3, dtype=np.float32))
    assert failure_head("train", own, x, y, 3, PARAMS)[2] == "train"
    with pytest.raises(ValueError, match="failures.head is 'own' but the model has no classifier"):
        failure_head("own", None, x, y, 3, PARAMS)
    with pytest.raises(
        ValueError, match=r"failures.head is 'mine'; valid: \['auto', 'own', 'train'\]"
    ):
        failure_head("mine", own, x, y, 3, PARAMS)
    with pytest.raises(ValueError, match="needs train-split features"):
        failure_head("auto", None, x[:0], y[:0], 3, PARAMS)
