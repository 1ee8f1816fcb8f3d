import numpy as np
import torch

from clipmend.models.training import TrainParams, _schedule, train_classifier


def test_schedule_works_for_tiny_and_long_runs():
    for total in (1, 3, 5, 1000):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        sched = _schedule(opt, total)
        lrs = []
        for _ in range(total):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        assert max(lrs) <= 1.0 and all(lr >= 0 for lr in lrs)
    assert lrs[len(lrs) // 2] > lrs[-1]  # decays


def test_train_classifier_learns_a_separable_toy_problem(tmp_path):
    labels = np.repeat([0, 1], 32)
    images = np.zeros((64, 8, 8, 3), dtype=np.uint8)
    images[labels == 1] = 255
    np.save(tmp_path / "x.npy", images)
    refs = [f"{tmp_path / 'x.npy'}#{i}" for i in range(64)]
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 2))
    transform = lambda im: torch.as_tensor(np.asarray(im), dtype=torch.float32).permute(2, 0, 1) / 255  # noqa: E731
    train_classifier(model, transform, refs, labels, TrainParams(epochs=5, lr=0.01, batch_size=16))
    x = torch.stack([transform(images[i]) for i in range(64)])
    assert (model(x).argmax(1).numpy() == labels).mean() == 1.0


def _random_images(tmp_path, seed: int, n: int):
    """``n`` random 32 px images of 3 classes in a .npy file: their refs, labels and a to-tensor transform."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8)
    np.save(tmp_path / "x.npy", images)
    refs = [f"{tmp_path / 'x.npy'}#{i}" for i in range(n)]
    labels = rng.integers(0, 3, n)
    transform = lambda im: torch.as_tensor(np.asarray(im), dtype=torch.float32).permute(2, 0, 1) / 255  # noqa: E731
    return refs, labels, transform


def test_training_is_deterministic(tmp_path):
    import timm

    refs, labels, transform = _random_images(tmp_path, seed=0, n=40)
    states = []
    for _ in range(2):
        torch.manual_seed(123)  # model init; training seeds itself
        model = timm.create_model("resnet10t", num_classes=3)
        states.append(train_classifier(model, transform, refs, labels, TrainParams(epochs=2, batch_size=16)))
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_channels_last_trains_the_same_net_in_the_other_memory_format(tmp_path):
    import timm

    refs, labels, transform = _random_images(tmp_path, seed=1, n=32)
    states, models = [], []
    for channels_last in (False, True):
        torch.manual_seed(5)
        model = timm.create_model("resnet10t", num_classes=3)
        params = TrainParams(epochs=1, batch_size=16, lr=1e-4, channels_last=channels_last)
        states.append(train_classifier(model, transform, refs, labels, params))
        models.append(model)
    conv = next(k for k, v in states[1].items() if v.ndim == 4)
    assert models[1].get_parameter(conv).is_contiguous(memory_format=torch.channels_last)
    assert not models[0].get_parameter(conv).is_contiguous(memory_format=torch.channels_last)
    # the same two steps, in another order of float operations: the weights agree to rounding
    for k in states[0]:
        if states[0][k].is_floating_point():
            torch.testing.assert_close(states[1][k], states[0][k], atol=1e-3, rtol=1e-3)
