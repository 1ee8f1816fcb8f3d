"""The fine-tuning losses of Yang et al. (§3): L_CLIP, L_vc, L_lc, L_vs, L_ls, in the paper's form or the code's.

Notation: ``f`` (N, D) L2-normalised image embeddings with labels ``y``; ``t`` (C, T, D)
class-prompt embeddings (C classes × T templates); ``a`` (A, T_a, D) attribute-prompt
embeddings (each attribute under T_a templates); ``scale`` = e^θ = 1/τ. Detection drives the
spurious terms: ``spurious`` (C, A) says which attributes are class c's spurious ones (from a
source's detections, ``clipmend.spurious.steps``), and L_vs's ``s`` is "the image's class's
spurious attribute is present" (0/1), so its groups are the paper's (class, present/absent).

``form="paper"`` follows the paper's formulas, ``form="code"`` the released code
(YuYang0901/CLIP-spurious-finetune, ``losses.py`` and ``algorithms/multimodal.py``) exactly as
it runs, where it can run. Differences, and choices where the paper is silent:

- CS (the paper's cross-group similarity): the paper's expectation is taken per anchor over
  its positives, then over anchors; anchors without positives are skipped; self-pairs are
  never positives or negatives.
- L_CLIP: eq. 1 on the batch, each image's caption being its class embedding (targets on the
  diagonal, symmetric), as the code does; images of one class are therefore each other's
  negatives in both forms. Class embedding: paper = re-normalised mean of the T template
  embeddings; code = the mean without re-normalising.
- L_vc: paper = CS over images, positives same label, negatives other labels. Code =
  ``similarity_loss``: -w_pos·mean_j(cos_ij·same_ij) + w_neg·mean_j(cos_ij·diff_ij), means over
  all N columns with the self-pair included, no softmax, no τ; mean over images. As released,
  the key is ``metadata[:, field_idx]`` with field_idx counted over ``['generic-spurious',
  'spurious', 'y']``, i.e. column 2; WILDS 2.x metadata columns are ``[place, y,
  from_source_domain]``, so it reads from_source_domain (1 for every train image): every pair
  is "same", and the released L_vc is -w_pos·mean_ij cos_ij, pulling all images together. The
  code form reproduces that (all keys equal); with the intended column it would be
  ``similarity_loss`` keyed by the label.
- L_lc: paper eq. 3 reads CS(G_l, G_l, T, T), a typo for CS(G_l, Ĝ_l, T, T): positives the
  same class's other templates, negatives the other classes' prompts. Code = ``similarity_loss``
  over all C·T prompts laid out template-major (row τ·C + c) but labelled class-major
  (``repeat_interleave(arange(C), T)``: row r has label r // T), then ``.view(T, C).mean(-1)
  [y_true]``: image i reads template index y_i's mean over classes. Reproduced as is; it needs
  T > max(y) (otherwise the released indexing fails), else a clear error.
- L_vs: paper = CS over images with groups (class, spurious attribute present or not), as its
  waterbird example: positives the same group, negatives every other group (same class with
  the attribute absent, and all other classes). Code = CE(e^θ·f·Sᵀ, s) against attribute
  prototypes S = the template mean of the attribute prompts divided by the Frobenius norm of
  the whole matrix (``.norm()``), ``s`` the image's attribute value (Waterbirds: place), exactly
  as the code does; its attribute prompts are every attribute value's.
- L_ls: paper = CS over prompts; anchors the class prompts, positives the same class's other
  templates, negatives the other classes' prompts and the prompts of the class's own spurious
  attribute(s) (``spurious[c]``; ``spurious=None`` pushes every class from every attribute
  alike, the wiring the paper does not mean). Code = neg_weight·|cos| averaged over every
  attribute prompt given (the released code's 'spurious' field: Waterbirds' land and water,
  here the union of the classes' detected attributes) per class prompt, then, as L_lc,
  ``.view(T, C).mean(-1)[y_true]``: image i reads template index y_i only (the mean over the
  classes of that template), not the mean over all (class prompt, attribute prompt) pairs;
  needs T > max(y). With ``--use_wandb`` (every README command) the code also adds |cos|
  between class prompts; not reproduced.
- Temperature: the released code starts a new ``logit_scale`` at log(1/0.07) (e^θ ≈ 14.3) and
  never clamps it; the paper is silent, so that is the default here
  (``FinetuneSettings.init_temperature``, ``clamp_logit_scale``).
- Attribute prompts: the released code fills all 80 templates with each attribute's name (the
  paper is silent); the default here (``spurious.attribute_templates: class``) fills the class
  templates with each attribute's phrase.
- Trained text parameters: the paper trains the projections only (kept); the released code also
  trains ``token_embedding``, ``positional_embedding`` and ``ln_final`` and re-encodes the
  prompts every batch, which these cached features cannot do (not offered here).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

FORMS = ("paper", "code")
LOSSES = ("clip", "vc", "lc", "vs", "ls")


def check_form(form: str) -> None:
    """Raise a clear error for an unknown loss form."""
    if form not in FORMS:
        raise ValueError(f"loss_form is {form!r}; valid: {list(FORMS)}")


def cross_group_similarity(anchors: torch.Tensor, items: torch.Tensor, positive: torch.Tensor,
                           negative: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """The paper's CS: -mean log(e^{s_ip} / Σ_{P_i ∪ N_i} e^{s_i·}) over anchors i and positives p.

    ``positive``/``negative`` are (n_anchors, n_items) masks without self-pairs (a pair in
    both counts as a positive); ``s = scale · anchors · itemsᵀ``. Anchors without positives
    are skipped (0 if none has any). No host sync: the masks stay on the device.
    """
    sim = scale * anchors @ items.T
    has = positive.any(1, keepdim=True)
    pool = sim.masked_fill(~(positive | negative), float("-inf"))
    lse = torch.where(has, pool, 0.0).logsumexp(1, keepdim=True)  # rows without positives: finite dummy
    n_pos = positive.sum(1).clamp(min=1)
    per_anchor = torch.where(positive, sim - lse, 0.0).sum(1) / n_pos
    return -(per_anchor * has[:, 0]).sum() / has.sum().clamp(min=1)


def _pairs(*keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(positive, negative) masks of a set against itself: all keys equal (no self-pairs), or not."""
    same = torch.stack([k[:, None] == k[None, :] for k in keys]).all(0)
    eye = torch.eye(len(keys[0]), dtype=torch.bool, device=keys[0].device)
    return same & ~eye, ~same


def _similarity_loss(x: torch.Tensor, keys: torch.Tensor, pos_weight: float, neg_weight: float,
                     reduce: bool = True) -> torch.Tensor:
    """The code's ``similarity_loss`` (abs=False) per row or row-averaged: no softmax, no τ, self-pair included."""
    cos = x @ x.T
    same = (keys[:, None] == keys[None, :]).to(cos.dtype)
    rows = -pos_weight * (cos * same).mean(1) + neg_weight * (cos * (1 - same)).mean(1)
    return rows.mean() if reduce else rows


def _prompt_keys(prompts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(C·T, D) prompts in class-major order and their class of each row."""
    n_class, n_templates, dim = prompts.shape
    keys = torch.arange(n_class, device=prompts.device).repeat_interleave(n_templates)
    return prompts.reshape(n_class * n_templates, dim), keys


def _template_major(t: torch.Tensor) -> torch.Tensor:
    """(T·C, D) class prompts in the released code's layout: row τ·C + c."""
    return t.transpose(0, 1).reshape(-1, t.shape[-1])


def _by_template_index(per_prompt: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None, name: str) -> torch.Tensor:
    """The released ``.view(T, C).mean(-1)[y_true]``, averaged over the images."""
    n_class, n_templates, _ = t.shape
    if y is None:
        raise ValueError(f"{name} in the code's form needs the image labels y")
    if len(y) and int(y.max()) >= n_templates:
        raise ValueError(f"{name} in the code's form reads template index y_i (.view(T, C).mean(-1)[y_true]): "
                         f"it needs more templates than the largest label {int(y.max())}, got T={n_templates}; "
                         "use loss_form paper or more spurious.templates")
    return per_prompt.view(n_templates, n_class).mean(-1)[y].mean()


def class_embeddings(t: torch.Tensor, form: str = "paper") -> torch.Tensor:
    """(C, D) class embeddings: the template mean, re-normalised in the paper's form, as is in the code's."""
    check_form(form)
    mean = t.mean(1)
    return F.normalize(mean, dim=-1) if form == "paper" else mean


def clip_loss(f: torch.Tensor, y: torch.Tensor, t: torch.Tensor, scale: torch.Tensor | float,
              form: str = "paper") -> torch.Tensor:
    """L_CLIP (eq. 1): symmetric CE over the batch, each image paired with its class embedding."""
    logits = scale * f @ class_embeddings(t, form)[y].T
    target = torch.arange(len(y), device=f.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def loss_vc(f: torch.Tensor, y: torch.Tensor, scale: torch.Tensor | float, form: str = "paper",
            pos_weight: float = 1.0, neg_weight: float = 1.0) -> torch.Tensor:
    """L_vc (eq. 2): images of a class together, apart from other classes (the code's: as released, all together)."""
    check_form(form)
    if form == "code":  # the released key column is from_source_domain: one value for every image
        return _similarity_loss(f, torch.zeros_like(y), pos_weight, neg_weight)
    return cross_group_similarity(f, f, *_pairs(y), scale)


def loss_lc(t: torch.Tensor, scale: torch.Tensor | float, form: str = "paper",
            pos_weight: float = 1.0, neg_weight: float = 1.0, y: torch.Tensor | None = None) -> torch.Tensor:
    """L_lc (eq. 3): a class's prompts (templates) together, apart from other classes' prompts."""
    check_form(form)
    if form == "code":
        n_class, n_templates, _ = t.shape
        keys = torch.arange(n_class, device=t.device).repeat_interleave(n_templates)  # class-major labels
        rows = _similarity_loss(_template_major(t), keys, pos_weight, neg_weight, reduce=False)
        return _by_template_index(rows, t, y, "L_lc")
    prompts, keys = _prompt_keys(t)
    return cross_group_similarity(prompts, prompts, *_pairs(keys), scale)


def loss_vs(f: torch.Tensor, y: torch.Tensor, s: torch.Tensor, scale: torch.Tensor | float,
            form: str = "paper", a: torch.Tensor | None = None) -> torch.Tensor:
    """L_vs (eq. 4): images of a (class, spurious attribute present or not) group together, apart from the others.

    Paper form: ``s`` is 1 where the image's class's spurious attribute is present. The code's
    form is a CE of the image's attribute value ``s`` against attribute prototypes (needs ``a``).
    """
    check_form(form)
    if form == "code":
        if a is None:
            raise ValueError("loss_vs in the code's form needs the attribute prompts a (A, T, D)")
        prototypes = a.mean(1)
        return F.cross_entropy(scale * f @ (prototypes / prototypes.norm()).T, s)
    return cross_group_similarity(f, f, *_pairs(y, s), scale)


def loss_ls(t: torch.Tensor, a: torch.Tensor, scale: torch.Tensor | float, form: str = "paper",
            neg_weight: float = 1.0, spurious: torch.Tensor | None = None,
            y: torch.Tensor | None = None) -> torch.Tensor:
    """L_ls (eq. 5): each class's prompts apart from its own spurious attributes' prompts.

    ``spurious`` (C, A) bool: class c's spurious attributes (paper form; None: every attribute
    for every class). The code's form averages |cos| over all of ``a`` and needs the labels ``y``.
    """
    check_form(form)
    attrs = a.reshape(-1, a.shape[-1])
    if form == "code":
        per_prompt = neg_weight * (_template_major(t) @ attrs.T).abs().mean(1)
        return _by_template_index(per_prompt, t, y, "L_ls")
    prompts, keys = _prompt_keys(t)
    if spurious is None:
        spurious = torch.ones(t.shape[0], a.shape[0], dtype=torch.bool, device=t.device)
    if spurious.shape != (t.shape[0], a.shape[0]):
        raise ValueError(f"spurious mask of shape {tuple(spurious.shape)}; need (classes, attributes) = "
                         f"{(t.shape[0], a.shape[0])}")
    attr_keys = torch.arange(a.shape[0], device=a.device).repeat_interleave(a.shape[1])
    positive, negative = _pairs(keys)
    positive = F.pad(positive, (0, len(attrs)), value=False)
    negative = torch.cat([negative, spurious.to(t.device)[keys][:, attr_keys]], 1)
    return cross_group_similarity(prompts, torch.cat([prompts, attrs]), positive, negative, scale)


def check_weights(weights: Mapping[str, float]) -> None:
    """Raise a clear error for an unknown loss name or a negative weight."""
    for name, weight in weights.items():
        if name not in LOSSES:
            raise ValueError(f"loss {name!r} is not known; valid: {list(LOSSES)}")
        if not weight >= 0:
            raise ValueError(f"loss weight {name}={weight!r} must be a number >= 0")


def total_loss(weights: Mapping[str, float], form: str, *, f: torch.Tensor, y: torch.Tensor,
               s: torch.Tensor | None, t: torch.Tensor, a: torch.Tensor | None,
               scale: torch.Tensor | float, pos_weight: float = 1.0, neg_weight: float = 1.0,
               spurious: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Σ weight·term over the terms with weight > 0, and each computed term's detached value.

    Terms with weight 0 (or absent) are not computed, so ``s`` and ``a`` may be None without them;
    ``spurious`` (C, A) is each class's spurious attributes for L_ls (paper form; None: all).
    """
    check_weights(weights)
    check_form(form)
    active = [name for name in LOSSES if weights.get(name, 0) > 0]
    if not active:
        raise ValueError(f"no loss has a weight > 0 in {dict(weights)}; give at least one of {list(LOSSES)}")
    if form == "paper" and t.shape[1] < 2 and {"lc", "ls"} & set(active):
        raise ValueError("losses lc/ls (paper form) pair a class's templates: need >= 2 templates "
                         f"(spurious.templates), got {t.shape[1]}")
    required = {"vs": {"s": s, "a": a if form == "code" else t}, "ls": {"a": a}}
    for name in active:
        for arg, value in required.get(name, {}).items():
            if value is None:
                raise ValueError(f"loss {name!r} ({form} form) needs {arg}; pass it or set its weight to 0")
    terms = {
        "clip": lambda: clip_loss(f, y, t, scale, form),
        "vc": lambda: loss_vc(f, y, scale, form, pos_weight, neg_weight),
        "lc": lambda: loss_lc(t, scale, form, pos_weight, neg_weight, y),
        "vs": lambda: loss_vs(f, y, s, scale, form, a),
        "ls": lambda: loss_ls(t, a, scale, form, neg_weight, spurious, y),
    }
    values = {name: terms[name]() for name in active}
    total = sum(weights[name] * value for name, value in values.items())
    return total, {name: value.detach() for name, value in values.items()}
