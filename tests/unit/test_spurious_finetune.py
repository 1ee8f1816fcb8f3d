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
    # the planted world's CLIP scale (10) and open_clip's clamp, as these tests were set up
    settings = FinetuneSettings(**{"lr": 0.05, "epochs": 3, "batch_size": 32, "init_temperature": None,
                                   "clamp_logit_scale": True, **kw})
    return finetune(proj, train, val, c, a, settings, progress=False)


def test_zero_shot_logits_use_the_normalised_template_mean(world):
    proj, _, val, c, _ = world
    x = torch.as_tensor(val.pre[:5])
    f = torch.nn.functional.normalize(x, dim=-1)
    w = torch.nn.functional.normalize(torch.as_tensor(c).mean(1), dim=-1)
    torch.testing.assert_close(class_embeddings(proj, torch.as_tensor(c)), w)
    torch.testing.assert_close(zero_shot_logits(proj, x, torch.as_tensor(c), batch_size=2), 10.0 * f @ w.T)


def test_predictions_in_chunks_are_those_of_one_pass_from_float16_features_too(world):
    """Broken change caught: chunks that skip or repeat rows at their edges (ImageNet's zero-shot
    predictions run in chunks so that 1.33 M x 1,000 logits are never held at once)."""
    proj, _, val, c, _ = world
    x, c = torch.as_tensor(val.pre), torch.as_tensor(c)
    whole = zero_shot_logits(proj, x, c).argmax(1).numpy()
    assert len(whole) > 20 and len(set(whole)) > 1
    np.testing.assert_array_equal(predict(proj, x, c, chunk=7), whole)
    half = x.half()
    np.testing.assert_array_equal(predict(proj, half, c, chunk=7), predict(proj, half.float(), c))
    assert predict(proj, x[:0], c).shape == (0,)


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


def test_average_last_keeps_the_mean_of_the_last_epochs_weights(world):
    # the same seed draws the same first epochs: the weights after epoch 1 and after epoch 2 are those of
    # runs of 1 and 2 epochs averaging 1, and averaging the last 2 of 2 epochs gives their mean
    one, _ = _run(world, epochs=1, average_last=1, weights=METHOD_WEIGHTS["ours_ls"])
    two, _ = _run(world, epochs=2, average_last=1, weights=METHOD_WEIGHTS["ours_ls"])
    mean, history = _run(world, epochs=2, average_last=2, weights=METHOD_WEIGHTS["ours_ls"])
    for name, value in mean.state_dict().items():
        torch.testing.assert_close(value, (one.state_dict()[name] + two.state_dict()[name]) / 2)
    assert history["selected"].tolist() == [True, True]
    _, last = _run(world, epochs=3, average_last=1)
    assert last["selected"].tolist() == [False, False, True]
    with pytest.raises(ValueError, match="average_last=4 must be between 0"):
        FinetuneSettings(epochs=3, average_last=4)


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


def _wiring_world(seed=0, classes=4, attributes=10, dim=24):
    """Class c's prompts lean towards its own attribute e_c (the pretrained shortcut); attribute prompts share a part g.

    Train images mostly show their class's own attribute; test images another class's.
    """
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    objects, attrs, shared = basis[:classes], basis[classes:classes + attributes], basis[classes + attributes]

    def split(n, p_own, offset):
        r = np.random.default_rng(seed + offset)
        y = r.integers(0, classes, n)
        s = np.where(r.random(n) < p_own, y, (y + r.integers(1, classes, n)) % classes)
        x = objects[y] + attrs[s] + 0.3 * r.normal(size=(n, dim))
        present = (s == y).astype(np.int64)
        return GroupedFeatures(torch.tensor(x, dtype=torch.float32), torch.from_numpy(y), torch.from_numpy(present),
                               torch.from_numpy(2 * y + 1 - present))

    class_pre = np.stack([[objects[c] + 1.5 * attrs[c] + 0.4 * rng.normal(size=dim) for _ in range(2)]
                          for c in range(classes)]).astype(np.float32)
    attr_pre = np.stack([[shared + attrs[k] + 0.1 * rng.normal(size=dim) for _ in range(2)]
                         for k in range(attributes)]).astype(np.float32)
    own = np.eye(classes, attributes, dtype=bool)
    proj = Projections(torch.eye(dim), torch.eye(dim), torch.tensor(math.log(10.0)))
    return proj, split(400, 0.9, 1), split(200, 0.5, 2), split(1000, 0.0, 3), class_pre, attr_pre, own


def test_l_ls_wired_to_each_class_own_attribute_beats_every_attribute_alike():
    # the wrong wirings: every class against all 10 attributes alike, or against another class's attribute
    proj, train, val, test, class_pre, attr_pre, own = _wiring_world()
    settings = FinetuneSettings(lr=0.5, epochs=6, batch_size=128, weights={"ls": 1.0}, weight_decay=0.0)
    accuracy = {}
    for name, mask in {"own": own, "alike": np.ones_like(own), "other": np.roll(own, 1, axis=0)}.items():
        best, _ = finetune(proj, train, val, class_pre, attr_pre, settings, progress=False, spurious=mask)
        pred = predict(best, torch.as_tensor(test.pre), torch.as_tensor(class_pre))
        accuracy[name] = float((pred == test.labels.numpy()).mean())  # every test image: another class's attribute
    zero_shot = float((predict(proj, test.pre, torch.as_tensor(class_pre)) == test.labels.numpy()).mean())
    assert accuracy["own"] > zero_shot + 0.05, (accuracy, zero_shot)
    assert accuracy["own"] > accuracy["alike"] + 0.02, accuracy
    assert accuracy["own"] > accuracy["other"] + 0.05, accuracy


def test_the_temperature_starts_as_the_released_code_and_is_not_clamped(world):
    proj, train, val, c, a = world
    big = Projections(torch.eye(W), torch.eye(W), torch.tensor(math.log(1000.0)))  # above open_clip's clamp
    settings = FinetuneSettings(lr=1e-12, epochs=1, batch_size=64)
    assert settings.init_temperature == 0.07 and not settings.clamp_logit_scale
    best, _ = finetune(big, train, val, c, a, settings, progress=False)
    assert float(best.scale()) == pytest.approx(1 / 0.07, rel=1e-5)
    kept, _ = finetune(big, train, val, c, a, FinetuneSettings(lr=1e-12, epochs=1, init_temperature=None),
                       progress=False)
    assert float(kept.scale()) == pytest.approx(1000.0, rel=1e-5)  # not clamped to 100
    clamped, _ = finetune(big, train, val, c, a, FinetuneSettings(lr=1e-12, epochs=1, init_temperature=None,
                                                                  clamp_logit_scale=True), progress=False)
    assert float(clamped.scale()) == pytest.approx(100.0, rel=1e-5)
    with pytest.raises(ValueError, match="init_temperature=0"):
        FinetuneSettings(init_temperature=0)
