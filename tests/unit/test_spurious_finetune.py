"""Fine-tuning on a planted problem: a strong spurious direction tracks the class in train, not in val."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from clipmend.spurious.finetune import (
    FinetuneSettings,
    GroupedFeatures,
    class_embeddings,
    finetune,
    predict,
    zero_shot_logits,
)
from clipmend.spurious.projections import Projections

METHOD_WEIGHTS = {"finetune_clip": {"clip": 1.0}, "ours_ls": {"clip": 1, "vc": 1, "lc": 1, "ls": 1},
                  "ours_vs": {"clip": 1, "vc": 1, "lc": 1, "vs": 1}}
W = 6  # pre-feature dims: 0 = the class (core), 1 = the attribute (spurious), 2-5 noise


def _split(n, p_aligned, seed):
    """Images with a weak core direction (±1) and a strong attribute direction (±3), noise 1."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = np.where(rng.random(n) < p_aligned, y, 1 - y)
    x = rng.standard_normal((n, W))
    x[:, 0] += 2 * y - 1
    x[:, 1] += 3 * (2 * s - 1)
    return GroupedFeatures(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y), s, 2 * y + s)


def _prompts():
    """Class prompts along the core axis, attribute prompts along the spurious one (2 templates each)."""
    c, a = np.zeros((2, 2, W), np.float32), np.zeros((2, 2, W), np.float32)
    for k in range(2):
        c[:, k, 0] = a[:, k, 1] = [-1, 1]
        c[:, k, 2 + k] = a[:, k, 2 + k] = 0.3
    return c, a


pytestmark = pytest.mark.usefixtures("one_thread")  # steps here are tiny matmuls


@pytest.fixture(scope="module")
def world():
    c, a = _prompts()
    proj = Projections(torch.eye(W), torch.eye(W), torch.tensor(math.log(10.0)))
    return proj, _split(400, 0.95, 0), _split(400, 0.5, 1), c, a


def _wga(proj, split, c):
    correct = predict(proj, torch.as_tensor(split.pre), torch.as_tensor(c)) == np.asarray(split.labels)
    return min(correct[split.groups == g].mean() for g in np.unique(split.groups))


def _run(world, **kw):
    proj, train, val, c, a = world
    settings = FinetuneSettings(**{"lr": 0.05, "epochs": 3, "batch_size": 32, **kw})
    return finetune(proj, train, val, c, a, settings, progress=False)


def test_zero_shot_logits_use_the_normalised_template_mean(world):
    proj, _, val, c, _ = world
    x = torch.as_tensor(val.pre[:5])
    f = torch.nn.functional.normalize(x, dim=-1)
    w = torch.nn.functional.normalize(torch.as_tensor(c).mean(1), dim=-1)
    torch.testing.assert_close(class_embeddings(proj, torch.as_tensor(c)), w)
    torch.testing.assert_close(zero_shot_logits(proj, x, torch.as_tensor(c), batch_size=2), 10.0 * f @ w.T)


def test_balanced_sampling_resists_the_shortcut_that_plain_sampling_learns(world):
    proj, _, val, c, _ = world
    zero_shot = _wga(proj, val, c)
    _, plain = _run(world, balanced=False)
    _, balanced = _run(world, balanced=True)
    assert zero_shot > 0.7
    assert plain["val_worst_group_accuracy"].max() < 0.2  # minority groups follow the background
    assert balanced["val_worst_group_accuracy"].max() > 0.7


def test_spurious_language_loss_counters_the_shortcut(world):
    # unbalanced, so only the loss differs: L_ls pushes class prompts off the attribute prompts' axis
    _, clip_only = _run(world, balanced=False, epochs=12, weights=METHOD_WEIGHTS["finetune_clip"])
    _, ours_ls = _run(world, balanced=False, epochs=12, weights=METHOD_WEIGHTS["ours_ls"])
    assert ours_ls["val_worst_group_accuracy"].max() > clip_only["val_worst_group_accuracy"].max() + 0.15


def test_the_best_epoch_by_val_wga_is_returned_with_its_history(world):
    proj, train, val, c, _ = world
    best, history = _run(world, epochs=4, weights=METHOD_WEIGHTS["ours_vs"])
    assert history.columns.tolist() == ["epoch", "clip", "vc", "lc", "vs", "val_average_accuracy",
                                        "val_worst_group_accuracy", "selected"]
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    wga = history["val_worst_group_accuracy"]
    assert history["selected"].sum() == 1 and wga[history["selected"]].item() == wga.max()
    assert _wga(best, val, c) == pytest.approx(wga.max())
    assert not torch.equal(best.visual, proj.visual)  # the input projections are left untouched
    # a step too small to change a prediction: every epoch ties, the first is kept
    _, ties = _run(world, lr=1e-12, epochs=3)
    assert ties["val_worst_group_accuracy"].nunique() == 1 and ties["selected"].tolist() == [True, False, False]


def test_deterministic_given_the_seed(world):
    _, first = _run(world, epochs=2, weights=METHOD_WEIGHTS["ours_vs"])
    _, again = _run(world, epochs=2, weights=METHOD_WEIGHTS["ours_vs"])
    _, other = _run(world, epochs=2, weights=METHOD_WEIGHTS["ours_vs"], seed=1)
    pd.testing.assert_frame_equal(first, again)
    assert not first["clip"].equals(other["clip"])


def test_finetune_runs_on_the_device(world):
    settings = FinetuneSettings(epochs=1, batch_size=64, weights=METHOD_WEIGHTS["ours_ls"])
    best, history = finetune(*world, settings, device="meta", progress=False)
    assert all(p.is_meta for p in best.parameters())
    assert len(history) == 1


def test_settings_from_config_and_their_errors():
    s = FinetuneSettings.from_config({"lr": 1e-4, "weights": {"clip": 1, "ls": 0.5}, "loss_form": "code"})
    assert (s.lr, s.weight_decay, s.momentum, s.balanced, s.weights) == (1e-4, 1e-4, 0.9, True, {"clip": 1, "ls": 0.5})
    with pytest.raises(ValueError, match="unknown finetune setting 'learning_rate'; valid: .*'lr'"):
        FinetuneSettings.from_config({"learning_rate": 1e-4})
    with pytest.raises(ValueError, match="loss 'l_vs' is not known"):
        FinetuneSettings.from_config({"weights": {"l_vs": 1}})
    with pytest.raises(ValueError, match="loss_form is 'both'"):
        FinetuneSettings.from_config({"loss_form": "both"})
    with pytest.raises(ValueError, match="epochs=0"):
        FinetuneSettings(epochs=0)
    with pytest.raises(ValueError, match="one length"):
        GroupedFeatures(np.zeros((3, 2)), np.zeros(3), np.zeros(2), np.zeros(3))
