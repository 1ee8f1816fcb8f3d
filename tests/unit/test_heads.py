import numpy as np
import pytest
import torch
import torch.nn.functional as F

from clipmend.debugging.heads import HeadParams, train_heads


def _blobs(n, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(size=(n, 4)) + np.eye(3, 4)[y] * 3 + shift
    return x.astype(np.float32), y


def _reference_head(x, y, params, num_classes):
    """Plain single-head training on original data only, for comparison."""
    torch.manual_seed(params.seed)
    mean, std = x.mean(0), x.std(0)
    z = torch.tensor((x - mean) / std)
    w = torch.zeros(num_classes, x.shape[1], requires_grad=True)
    b = torch.zeros(num_classes, requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=params.lr, momentum=params.momentum, weight_decay=params.weight_decay)
    for _ in range(params.epochs):
        opt.zero_grad()
        F.cross_entropy(z @ w.T + b, torch.tensor(y)).backward()
        opt.step()
    wn = w.detach().numpy() / std
    return wn, b.detach().numpy() - wn @ mean


def test_lambda_zero_equals_training_on_original_data_only():
    x, y = _blobs(200, 0)
    xg, yg = _blobs(50, 1, shift=2.0)
    params = HeadParams(epochs=50)
    (with_gen,) = train_heads(x, y, [(xg, yg)], [0.0], 3, params, progress=False)
    (without,) = train_heads(x, y, [(xg[:0], yg[:0])], [0.0], 3, params, progress=False)
    np.testing.assert_array_equal(with_gen.weight, without.weight)
    np.testing.assert_array_equal(with_gen.bias, without.bias)
    w_ref, b_ref = _reference_head(x, y, params, 3)
    np.testing.assert_allclose(with_gen.weight, w_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(with_gen.bias, b_ref, rtol=1e-4, atol=1e-5)


def test_generated_data_moves_the_head_in_proportion_to_lambda():
    x, y = _blobs(300, 0)
    # generated data: class 0 drawn where class 1 lives in the original data
    noise = np.random.default_rng(2).normal(size=(60, 4)).astype(np.float32) * 0.3
    xg = np.tile(np.eye(3, 4)[1] * 3, (60, 1)).astype(np.float32) + noise
    yg = np.zeros(60, dtype=int)
    heads = train_heads(x, y, [(xg, yg)] * 3, [0.0, 0.5, 5.0], 3, HeadParams(epochs=100), progress=False)
    share = [float(np.mean(h.predict(xg) == 0)) for h in heads]
    assert share[0] < 0.1 < share[2]
    assert share[0] <= share[1] <= share[2]


def test_init_from_existing_head_is_exact_in_feature_space():
    x, y = _blobs(100, 0)
    w0 = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    b0 = np.array([0.1, -0.2, 0.3], dtype=np.float32)
    (head,) = train_heads(x, y, [(x[:0], y[:0])], [0.0], 3, HeadParams(epochs=1, lr=1e-12), init=(w0, b0),
                          progress=False)
    np.testing.assert_allclose(x @ head.weight.T + head.bias, x @ w0.T + b0, rtol=1e-4, atol=1e-4)


def test_bad_arguments_are_named():
    x, y = _blobs(10, 0)
    with pytest.raises(ValueError, match="lambda"):
        train_heads(x, y, [(x, y)], [-1.0], 3, HeadParams(epochs=1), progress=False)
    with pytest.raises(ValueError, match="2 lambda"):
        train_heads(x, y, [(x, y)], [0.1, 0.2], 3, HeadParams(epochs=1), progress=False)
