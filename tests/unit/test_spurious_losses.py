"""Each loss on 2-D unit vectors whose dot products are written out by hand (0.6, 0.8, 0.96, -0.28 ...)."""

import math

import pytest
import torch

from clipmend.spurious import losses
from clipmend.spurious.losses import (
    clip_loss,
    cross_group_similarity,
    loss_lc,
    loss_ls,
    loss_vc,
    loss_vs,
    total_loss,
)
from clipmend.spurious.projections import Projections

T = torch.tensor
LN = math.log
E = math.exp

# class prompts (C=2, T=2): class 0 = (.6,.8), (.6,-.8); class 1 = (.8,.6), (-.8,.6).
# Dots: p0.p1 = -.28, p0.p2 = .96, p0.p3 = 0, p1.p2 = 0, p1.p3 = -.96, p2.p3 = -.28.
PROMPTS = T([[[0.6, 0.8], [0.6, -0.8]], [[0.8, 0.6], [-0.8, 0.6]]])
ATTRS = T([[[1.0, 0.0], [0.0, 1.0]]])  # one attribute, two templates


def _ce(row, target):
    return LN(sum(E(v) for v in row)) - row[target]


def _sym_ce(logits):
    n = len(logits)
    cols = [[logits[i][j] for i in range(n)] for j in range(n)]
    return 0.5 * (sum(_ce(logits[i], i) for i in range(n)) / n + sum(_ce(cols[j], j) for j in range(n)) / n)


def _close(value, expected):
    assert float(value.detach()) == pytest.approx(expected, abs=1e-6, rel=1e-6)


def _leaves(tensor):
    """The leaf tensors a backward pass from ``tensor`` would accumulate gradients into."""
    seen, stack, leaves = set(), [tensor.grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if hasattr(node, "variable"):
            leaves.append(node.variable)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return leaves


def test_cs_averages_over_positives_and_skips_anchors_without_any():
    anchors = T([[1.0, 0.0], [0.0, 1.0]])
    items = T([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])  # dots of anchor 0: 1, 0, -1
    pos = T([[True, True, False], [False, False, False]])
    neg = T([[False, False, True], [True, False, True]])
    expected = LN(E(1) + E(0) + E(-1)) - 0.5  # -(1/2)[(1 - lse) + (0 - lse)]
    _close(cross_group_similarity(anchors, items, pos, neg, 1.0), expected)
    _close(cross_group_similarity(anchors, items, pos, neg, 3.0), LN(E(3) + 1 + E(-3)) - 1.5)
    none = torch.zeros(2, 3, dtype=torch.bool)
    _close(cross_group_similarity(anchors, items, none, neg, 1.0), 0.0)


def test_loss_vc_paper_and_code():
    f = T([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])  # f0.f1 = .6, f0.f2 = 0, f1.f2 = .8
    y = T([0, 0, 1])
    # anchor 0: P={1} N={2}; anchor 1: P={0} N={2}; anchor 2 has no positive
    _close(loss_vc(f, y, 2.0), 0.5 * (LN(E(1.2) + 1) - 1.2 + LN(E(1.2) + E(1.6)) - 1.2))
    # code, as released under WILDS 2.x: every pair "same" (the key column is from_source_domain),
    # rows -(1 + .6 + 0)/3, -(.6 + 1 + .8)/3, -(0 + .8 + 1)/3: all images pulled together
    _close(loss_vc(f, y, 2.0, "code"), -5.8 / 9)
    _close(loss_vc(f, y, 2.0, "code", pos_weight=0.0, neg_weight=2.0), 0.0)


def test_clip_loss_paper_renormalises_the_template_mean_code_does_not():
    # template means: class 0 (.6, 0), class 1 (0, .6); re-normalised (1, 0), (0, 1)
    f = T([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    y = T([0, 1, 0])
    logits = [[1, 0, 1], [0, 1, 0], [0.6, 0.8, 0.6]]  # f_i . class(y_j)
    _close(clip_loss(f, y, PROMPTS, 1.0), _sym_ce(logits))
    _close(clip_loss(f, y, PROMPTS, 2.0, "code"), _sym_ce([[1.2 * v for v in row] for row in logits]))


def test_loss_lc_paper_and_code():
    # each prompt's positive is its class's other template (dot -.28)
    expected = 0.5 * (LN(E(-0.28) + E(0.96) + 1) + 0.28 + LN(E(-0.28) + 1 + E(-0.96)) + 0.28)
    _close(loss_lc(PROMPTS, 1.0), expected)
    # code: rows template-major (p0, p2, p1, p3) labelled class-major (0, 0, 1, 1), so p0's "same
    # class" is p2 (class 1): rows -(1 + .96)/4 + (-.28 + 0)/4 = -.56 (p0, p2) and
    # -(1 - .96)/4 + (-.28 + 0)/4 = -.08 (p1, p3); .view(T, C).mean(-1) = (-.56, -.08), read at y_i
    _close(loss_lc(PROMPTS, 1.0, "code", y=T([0, 1, 1])), (-0.56 - 0.08 - 0.08) / 3)
    with pytest.raises(ValueError, match="L_lc.*template index.*largest label 2.*T=2"):
        loss_lc(PROMPTS, 1.0, "code", y=T([0, 2]))


def test_loss_vs_groups_are_class_times_attribute():
    f = T([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [0.8, 0.6]])
    y, s = T([0, 0, 0, 1]), T([0, 0, 1, 0])
    # groups {0,1}, {2}, {3}: only anchors 0 and 1 have a positive; image 2 (same class) is a negative
    expected = 0.5 * (LN(E(0.6) + 1 + E(0.8)) - 0.6 + LN(E(0.6) + E(0.8) + E(0.96)) - 0.6)
    _close(loss_vs(f, y, s, 1.0), expected)
    assert float(loss_vs(f, y, s, 1.0)) != pytest.approx(float(loss_vc(f, y, 1.0)))


def test_loss_vs_code_is_ce_against_frobenius_normalised_attribute_prototypes():
    a = T([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [1.0, 0.0]]])  # prototypes (.5,.5), (1,0); ||S||_F = sqrt(1.5)
    f, y, s = T([[1.0, 0.0], [0.0, 1.0]]), T([0, 1]), T([0, 1])
    k = 2.0 / math.sqrt(1.5)
    expected = 0.5 * (_ce([0.5 * k, 1.0 * k], 0) + _ce([0.5 * k, 0.0], 1))
    _close(loss_vs(f, y, s, 2.0, "code", a=a), expected)
    with pytest.raises(ValueError, match="attribute prompts"):
        loss_vs(f, y, s, 2.0, "code")


def test_loss_ls_paper_and_code():
    # attribute prompts (1,0), (0,1) are negatives of every class prompt
    rows = [
        [-0.28, 0.96, 0.0, 0.6, 0.8],
        [-0.28, 0.0, -0.96, 0.6, -0.8],
        [-0.28, 0.96, 0.0, 0.8, 0.6],
        [-0.28, 0.0, -0.96, -0.8, 0.6],
    ]
    _close(loss_ls(PROMPTS, ATTRS, 1.0), sum(LN(sum(E(v) for v in r)) + 0.28 for r in rows) / 4)
    # code: |cos| with the attribute prompt (1, 1)/√2 is 1.4/√2 for p0 and p2 (template 0) and
    # .2/√2 for p1 and p3 (template 1); image i reads template index y_i only
    diagonal = T([[[1.0, 1.0]]]) / math.sqrt(2)
    _close(loss_ls(PROMPTS, diagonal, 1.0, "code", neg_weight=2.0, y=T([0, 1, 1])),
           2 * (1.4 + 0.2 + 0.2) / (3 * math.sqrt(2)))
    # over all (class prompt, attribute prompt) pairs it would be (1.4 + 1.4 + .2 + .2) / (4 √2)
    assert float(loss_ls(PROMPTS, diagonal, 1.0, "code", y=T([0, 1, 1]))) != pytest.approx(3.2 / (4 * math.sqrt(2)))


def test_loss_ls_paper_pushes_each_class_from_its_own_attributes_only():
    attrs = T([[[1.0, 0.0]], [[0.0, 1.0]]])  # attribute 0 = (1, 0), attribute 1 = (0, 1)
    own = T([[True, False], [False, True]])  # class 0 -> attribute 0, class 1 -> attribute 1
    rows = [  # each prompt: its class's other template (positive), the other class's two, its own attribute
        [-0.28, 0.96, 0.0, 0.6],
        [-0.28, 0.0, -0.96, 0.6],
        [-0.28, 0.96, 0.0, 0.6],
        [-0.28, 0.0, -0.96, 0.6],
    ]
    _close(loss_ls(PROMPTS, attrs, 1.0, spurious=own), sum(LN(sum(E(v) for v in r)) + 0.28 for r in rows) / 4)
    swapped = loss_ls(PROMPTS, attrs, 1.0, spurious=~own)  # class 0 -> attribute 1: .8, -.8, .8 (p2: .6), ...
    assert float(swapped) != pytest.approx(float(loss_ls(PROMPTS, attrs, 1.0, spurious=own)))
    every = torch.ones(2, 2, dtype=torch.bool)
    _close(loss_ls(PROMPTS, attrs, 1.0, spurious=None), float(loss_ls(PROMPTS, attrs, 1.0, spurious=every)))
    with pytest.raises(ValueError, match=r"spurious mask of shape \(1, 2\)"):
        loss_ls(PROMPTS, attrs, 1.0, spurious=own[:1])


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    proj = Projections(torch.randn(6, 4, generator=g), torch.randn(5, 4, generator=g), T(math.log(10)))
    image_pre, class_pre, attr_pre = torch.randn(8, 6, generator=g), torch.randn(3, 3, 5, generator=g), \
        torch.randn(2, 2, 5, generator=g)
    y, s = T([0, 0, 1, 1, 2, 2, 0, 1]), T([0, 1, 0, 1, 0, 1, 0, 0])
    return proj, image_pre, class_pre, attr_pre, y, s


@pytest.mark.parametrize("form", ["paper", "code"])
def test_total_loss_is_the_weighted_sum_and_gradients_reach_the_projections_only(form):
    proj, image_pre, class_pre, attr_pre, y, s = _batch()
    f, t, a = proj.images(image_pre), proj.texts(class_pre), proj.texts(attr_pre)
    weights = {"clip": 1.0, "vc": 0.5, "lc": 2.0, "vs": 1.0, "ls": 0.25}
    total, parts = total_loss(weights, form, f=f, y=y, s=s, t=t, a=a, scale=proj.scale())
    assert set(parts) == set(weights)
    _close(total, sum(weights[k] * float(v) for k, v in parts.items()))
    assert not any(v.requires_grad for v in parts.values())
    params = dict(proj.named_parameters())
    assert {id(p) for p in _leaves(total)} == {id(p) for p in params.values()}
    total.backward()
    assert all(p.grad.abs().sum() > 0 for p in params.values())


def test_a_term_with_weight_zero_is_not_computed(monkeypatch):
    proj, image_pre, class_pre, _, y, _ = _batch()

    def boom(*args, **kwargs):
        raise AssertionError("computed")

    monkeypatch.setattr(losses, "loss_vs", boom)
    monkeypatch.setattr(losses, "loss_ls", boom)
    f, t = proj.images(image_pre), proj.texts(class_pre)
    total, parts = total_loss({"clip": 1.0, "vs": 0.0, "ls": 0}, "paper", f=f, y=y, s=None, t=t, a=None,
                              scale=proj.scale())
    assert set(parts) == {"clip"}
    _close(total, float(parts["clip"]))


def test_total_loss_errors_name_the_problem():
    proj, image_pre, class_pre, _, y, s = _batch()
    kw = dict(f=proj.images(image_pre), y=y, s=s, t=proj.texts(class_pre), a=None, scale=1.0)
    with pytest.raises(ValueError, match="'xx'.*valid"):
        total_loss({"xx": 1.0}, "paper", **kw)
    with pytest.raises(ValueError, match="loss_form.*'paper', 'code'"):
        total_loss({"clip": 1.0}, "mine", **kw)
    with pytest.raises(ValueError, match="'ls'.*needs a"):
        total_loss({"ls": 1.0}, "paper", **kw)
    with pytest.raises(ValueError, match="'vs'.*code.*needs a"):
        total_loss({"vs": 1.0}, "code", **kw)
    with pytest.raises(ValueError, match=r"need >= 2 templates \(spurious.templates\), got 1"):
        total_loss({"lc": 1.0}, "paper", **{**kw, "t": kw["t"][:, :1]})
    with pytest.raises(ValueError, match="no loss has a weight"):
        total_loss({"clip": 0.0}, "paper", **kw)
