"""The second paper's steps (Yang et al. 2023), each runnable outside Snakemake: paths in, files out.

``clip_features`` caches one CLIP model's pre-projection features of every train/val/test
image and prompt; ``detect`` scores attributes by accuracy discrepancy for one source (a
CLIP model zero-shot, or a first-paper model); ``collect_detections`` merges them with
precision@1; ``train_method`` fits one method (zeroshot, linear_probe, finetune_clip,
ours_ls, ours_vs) and writes its predictions; ``method_aiou`` scores its GradCAM maps
against object masks; ``compare`` puts every method and every first-paper strategy on the
same test groups. Data sets without a recorded attribute skip what needs one, with a log line.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from clipmend import provenance
from clipmend.data.registry import has_attribute, objects_by_id
from clipmend.devices import resolve_device
from clipmend.io import read_json, read_parquet, read_torch, write_csv, write_parquet, write_torch
from clipmend.run_settings import RunSettings, settled
from clipmend.spurious import METHOD_LOSSES, groups, report
from clipmend.spurious import detect as detection

log = logging.getLogger(__name__)

PathLike = str | Path
SPLITS = ("train", "val", "test")
CLIP_METHODS = ("zeroshot", "finetune_clip", "ours_ls", "ours_vs")
FIRST_PAPER_STRATEGIES = ("original", "baseline", "random", "individual")
PREDICTION_COLUMNS = ["method", "model", "id", "split", "label", "attribute", "pred"]
ATTRIBUTE_TEMPLATES = ("class", "prompt")
#: where fine-tuning takes each class's spurious attributes besides a detection source's name
SELF_SOURCE, ORACLE_SOURCE = "self", "oracle"


def _settings(threads: int | None, run: RunSettings | None) -> RunSettings:
    if threads:
        torch.set_num_threads(threads)
    return settled(run)


def attribute_vocabulary(index: pd.DataFrame, phrases: Mapping[str, str]) -> list[str]:
    """The attribute values: the index's recorded ones (sorted), else the configured phrases' keys."""
    if has_attribute(index):
        return sorted(index["attribute"].dropna().astype(str).unique())
    return list(phrases)


def resolve_templates(templates: str | Sequence[str]) -> list[str]:
    """The class-prompt templates: a list, or ``openai_imagenet`` (OpenAI's 80, as the paper used)."""
    if isinstance(templates, str):
        if templates != "openai_imagenet":
            raise ValueError(f"spurious.templates {templates!r} is not a list of templates nor openai_imagenet")
        from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

        from clipmend import _torchvision_fix  # noqa: F401  (before open_clip imports torchvision)

        return [t("{class_name}") for t in OPENAI_IMAGENET_TEMPLATES]
    return list(templates)


def class_prompts(class_names: Sequence[str], templates: Sequence[str]) -> list[list[str]]:
    """Prompts per class, one per template (C lists of T)."""
    try:
        return [[t.format(class_name=c) for t in templates] for c in class_names]
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(f"spurious.templates may use only {{class_name}} ({err!r})") from None


def clip_features(index: PathLike, classes: PathLike, features_out: PathLike, arch: str, weights: str,
                  templates: Sequence[str], attribute_prompt: str, attribute_phrases: Mapping[str, str],
                  run: RunSettings | None = None, threads: int | None = None,
                  attribute_templates: str = "class") -> dict[str, Any]:
    """Pre-projection features of every train/val/test image and every class/attribute prompt.

    Fine-tuning trains only the projections, so each step is a matmul on these cached
    features (``clipmend.spurious.projections``). The file also keeps the embeddings under
    the pretrained projections (zero-shot, detection) and the index columns the other
    steps need (id, split, label, attribute, mask). The losses' attribute prompts
    (``attribute_text_pre``, A x T_a) fill every class template with the attribute's phrase
    (``attribute_templates: class``, as the released code) or are ``attribute_prompt`` alone
    (``prompt``); detection by CLIP always uses ``attribute_prompt``.
    """
    if attribute_templates not in ATTRIBUTE_TEMPLATES:
        raise ValueError(f"spurious.attribute_templates is {attribute_templates!r}; valid: {list(ATTRIBUTE_TEMPLATES)}")
    from clipmend.clip.loading import load_clip
    from clipmend.models.features import autocast_dtype, batch_size_for, extract
    from clipmend.spurious.projections import Projections, image_pre_features, text_pre_features

    run = _settings(threads, run)
    templates = resolve_templates(templates)
    class_names = read_json(classes)
    images = read_parquet(index)
    rows = images[images["split"].isin(SPLITS)].reset_index(drop=True)
    clip = load_clip(arch, weights, run.device)
    image_pre = extract(lambda b: image_pre_features(clip.model, b), clip.preprocess, rows["image"].tolist(),
                        batch_size_for(run, {"arch": arch}), run.device, desc="clip pre-projection",
                        module=clip.model)
    attributes = attribute_vocabulary(images, attribute_phrases)
    try:
        attribute_texts = [attribute_prompt.format(attribute=attribute_phrases.get(a, a)) for a in attributes]
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(f"spurious.attribute_prompt may use only {{attribute}} ({err!r})") from None
    prompts = class_prompts(class_names, templates)

    @torch.no_grad()
    def text_pre(texts: list[str]) -> torch.Tensor:
        if not texts:
            return torch.zeros(0, 0)
        return text_pre_features(clip.model, clip.tokenizer(texts).to(clip.device)).float().cpu()

    n_templates = len(templates)
    class_pre = text_pre([p for per_class in prompts for p in per_class]).reshape(len(class_names), n_templates, -1)
    prompt_pre = text_pre(attribute_texts)
    if attribute_templates == "class" and attributes:
        phrases = [attribute_phrases.get(a, a) for a in attributes]
        attribute_pre = text_pre([p for per_attr in class_prompts(phrases, templates) for p in per_attr])
        attribute_pre = attribute_pre.reshape(len(attributes), n_templates, -1)
    else:
        attribute_pre = prompt_pre.reshape(len(attributes), 1, -1) if attributes else prompt_pre
    projections = Projections.from_clip(clip.model).cpu()
    pre = torch.from_numpy(image_pre)
    with torch.no_grad():
        record = {
            "meta": rows[[c for c in ("id", "split", "label", "class_name", "attribute", "mask", "image")
                          if c in rows]].copy(),
            "class_names": list(class_names),
            "attributes": attributes,
            "templates": list(templates),
            "image_pre": pre.half(),
            "class_text_pre": class_pre,
            "attribute_text_pre": attribute_pre,
            "image_embeddings": projections.images(pre).half(),
            "attribute_embeddings": projections.texts(prompt_pre) if attributes else prompt_pre,
            "projections": projections,  # the module: rebuilt on load without CLIP
            "clip": {"arch": arch, "weights": weights},
            provenance.KEY: provenance.capture(
                "spurious_clip_features", clip.device, autocast=autocast_dtype(clip.device),
                batch_sizes={"features": run.feature_batch_size}),
        }
    log.info("cached pre-projection features: %d images %s, %d classes x %d templates, %d attributes",
             len(rows), tuple(image_pre.shape[1:]), len(class_names), n_templates, len(attributes))
    write_torch(record, features_out)
    return record


def read_clip_features(path: PathLike) -> dict[str, Any]:
    """A ``clip_features`` record (see there)."""
    return read_torch(path, weights_only=False)


def _split_mask(meta: pd.DataFrame, split: str) -> np.ndarray:
    return (meta["split"] == split).to_numpy()


def _presence(record: Mapping[str, Any], rows: np.ndarray, detector: str) -> pd.DataFrame:
    """Attribute presence of the chosen images: recorded, or CLIP zero-shot over the attribute prompts."""
    meta = record["meta"]
    if detector == "recorded" and has_attribute(meta):
        return detection.presence_from_attribute(meta.loc[rows, "attribute"].reset_index(drop=True))
    if detector == "recorded":
        log.info("the data set records no attribute: presence comes from CLIP zero-shot instead")
    images = record["image_embeddings"][torch.from_numpy(rows)].float().numpy()
    return detection.presence_from_clip(images, record["attribute_embeddings"].float().numpy(),
                                        record["attributes"])


def _empty_detections() -> pd.DataFrame:
    return pd.DataFrame(columns=["source", *detection.DETECT_COLUMNS])


def detect(clip_features_path: PathLike, detect_out: PathLike, source: str, settings: Mapping[str, Any],
           model_features: PathLike | None = None, failure_head: PathLike | None = None) -> pd.DataFrame:
    """Spurious attributes of one source by accuracy discrepancy (§4), on ``settings['split']``.

    The source is a CLIP model zero-shot (``model_features`` None: its pretrained projections
    and the mean of its template embeddings), or a first-paper model (its features and the
    head whose mistakes are its failures). Presence comes from ``settings['detector']``.
    """
    record = read_clip_features(clip_features_path)
    meta, split = record["meta"], settings["split"]
    if not record["attributes"]:
        log.info("no attribute vocabulary (no recorded attribute, no spurious.attribute_phrases): "
                 "nothing to detect for %s", source)
        write_csv(_empty_detections(), detect_out)
        return _empty_detections()
    rows = _split_mask(meta, split)
    if model_features is None:
        pred = zero_shot_predictions(record)[rows]
        ids, labels = meta.loc[rows, "id"].to_numpy(), meta.loc[rows, "label"].to_numpy()
    else:
        model_meta, _, pred = _failure_predictions(model_features, failure_head, [split])
        ids, labels = model_meta["id"].to_numpy(), model_meta["label"].to_numpy()
    order = pd.Series(np.arange(len(ids)), index=ids)
    chosen = order.reindex(meta.loc[rows, "id"]).to_numpy()
    if np.isnan(chosen.astype(float)).any():
        raise ValueError(f"{model_features} lacks some {split} images of the CLIP features; rebuild both")
    correct = pred[chosen] == labels[chosen]
    presence = _presence(record, rows, settings["detector"])
    found = detection.accuracy_discrepancy(labels[chosen], correct, presence, record["class_names"],
                                           min_detect=settings["min_detect"], top=settings["top"],
                                           rank_by=settings.get("rank_by", "delta"))
    found.insert(0, "source", source)
    log.info("%s: %d attributes kept for %d classes on %s (accuracy %.3f)", source, len(found),
             found["class_name"].nunique(), split, correct.mean() if len(correct) else float("nan"))
    write_csv(found, detect_out)
    return found


def _failure_predictions(features: PathLike, failure_head: PathLike, splits: Sequence[str]):
    """A first-paper model's features on ``splits`` and the predictions of the head whose mistakes are its failures."""
    from clipmend.debugging.failures import failure_predictions
    from clipmend.debugging.heads import read_head
    from clipmend.models.features import read_features

    meta, feats = read_features(features, splits=list(splits))
    head, source = read_head(failure_head)
    return meta, feats, np.asarray(failure_predictions(meta, feats, head[0], head[1], source))


def zero_shot_predictions(record: Mapping[str, Any], projections: Any = None) -> np.ndarray:
    """Zero-shot predictions of every cached image (the pretrained projections by default)."""
    from clipmend.spurious.finetune import predict

    if projections is None:
        projections = _projections(record)
    return predict(projections, record["image_pre"], record["class_text_pre"])


def _projections(record: Mapping[str, Any], state: Mapping[str, Any] | None = None):
    """A copy of the record's projections (pretrained, or loaded with ``state``); no CLIP needed."""
    projections = copy.deepcopy(record["projections"])
    if state is not None:
        projections.load_state_dict(state)
    return projections


def collect_detections(detections: Sequence[PathLike], index: PathLike, detect_out: PathLike,
                       precision_out: PathLike, heatmap_out: PathLike,
                       families: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Merge every source's detections; precision@1 against each class's common attribute.

    The truth (where the data set records an attribute): the attribute values over-represented
    in the class's train images (``clipmend.spurious.groups.common_attributes``): on the demo
    each class's common background, on Waterbirds land for landbirds and water for waterbirds.
    """
    frames = [pd.read_csv(p) for p in detections]
    merged = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) \
        else _empty_detections()
    images = read_parquet(index)
    rows, truth = [], None
    if has_attribute(images):
        truth = common_attribute_names(images)
        for source, found in merged.groupby("source", sort=False):
            precision, counted = detection.precision_at_1(found, truth)
            rows.append({"source": source, "precision_at_1": precision, "classes": counted})
    else:
        log.info("the data set records no attribute: no ground truth for precision@1")
    write_csv(merged, detect_out)
    write_csv(pd.DataFrame(rows, columns=["source", "precision_at_1", "classes"]), precision_out)
    report.plot_delta_heatmap(merged, heatmap_out, families, truth)
    return merged


def common_attribute_names(index: pd.DataFrame) -> dict[str, set[str]]:
    """class name -> its over-represented attribute values in the train split."""
    train = index[index["split"] == "train"]
    common = groups.common_attributes(train["label"].to_numpy(), train["attribute"].astype(str).to_numpy())
    names = dict(zip(train["label"], train["class_name"]))
    return {names[label]: set(values) for label, values in common.items()}


def _groups_known(record: Mapping[str, Any]) -> bool:
    return has_attribute(record["meta"]) and len(record["attributes"]) > 0


def train_method(clip_features_path: PathLike, method: str, clip_model: str, model_out: PathLike,
                 predictions_out: PathLike, history_out: PathLike, finetune: Mapping[str, Any],
                 head: Mapping[str, Any] | None = None, run: RunSettings | None = None,
                 threads: int | None = None, seeds: Sequence[int] = (0,),
                 detections: PathLike | None = None) -> pd.DataFrame:
    """Fit ``method`` on the train split (selection on val) and predict every val/test image.

    zeroshot: the pretrained projections; linear_probe: the first paper's head trainer on
    CLIP image embeddings (λ = 0); finetune_clip / ours_ls / ours_vs: the projections
    fine-tuned with their losses (``METHOD_LOSSES``), group-balanced, selected by
    validation worst-group accuracy, once per seed of ``seeds`` (the sampler's; features are
    read once). ``detections`` (a source's detect csv; None: the oracle) gives each class's
    spurious attributes. Predictions carry a ``seed`` column (deterministic methods: the first
    seed); the saved model is the first seed's.
    """
    run = _settings(threads, run)
    record = read_clip_features(clip_features_path)
    made = provenance.capture("spurious_train", resolve_device(run.device),
                              {str(clip_features_path): record.get(provenance.KEY)})
    meta = record["meta"]
    history = pd.DataFrame(columns=["epoch"])
    saved: dict[str, Any] = {"method": method, "clip_model": clip_model, provenance.KEY: made}
    if method == "zeroshot":
        pred = zero_shot_predictions(record)
        saved["projections"] = record["projections"].state_dict()
    elif method == "linear_probe":
        pred, saved["head"] = _linear_probe(record, head or {}, run)
    elif method in METHOD_LOSSES:
        if not _groups_known(record):
            log.info("the data set records no attribute for every image: %s cannot form groups; skipped", method)
            pred = np.full(len(meta), -1)
        else:
            found = None if detections is None else pd.read_csv(detections)
            runs = _finetune(record, method, finetune, run, seeds, found)
            saved["projections"] = runs[0][1].state_dict()
            history = pd.concat([h for _, _, h in runs], ignore_index=True)
            pred = {seed: zero_shot_predictions(record, projections) for seed, projections, _ in runs}
    else:
        raise ValueError(f"unknown spurious method {method!r}; valid: zeroshot, linear_probe, "
                         f"{', '.join(METHOD_LOSSES)}")
    keep = meta["split"].isin(["val", "test"]).to_numpy()
    frames = []
    for seed, values in (pred if isinstance(pred, dict) else {int(seeds[0]): pred}).items():
        frame = meta.loc[keep, ["id", "split", "label"]].copy()
        frame["attribute"] = meta.loc[keep, "attribute"] if "attribute" in meta else None
        frame["pred"] = values[keep]
        frame.insert(0, "model", clip_model)
        frame.insert(0, "method", method)
        frame["seed"] = seed
        test = frame[frame["split"] == "test"]
        log.info("%s on %s, seed %d: test accuracy %.4f", method, clip_model, seed,
                 (test["pred"] == test["label"]).mean())
        frames.append(frame[[*PREDICTION_COLUMNS, "seed"]])
    predictions = pd.concat(frames, ignore_index=True)
    write_torch(saved, model_out)
    write_csv(history, history_out)
    predictions.attrs[provenance.KEY] = made
    write_parquet(predictions, predictions_out)
    return predictions


def _linear_probe(record: Mapping[str, Any], head: Mapping[str, Any], run: RunSettings):
    """A linear head on CLIP image embeddings (the first paper's head trainer, λ = 0)."""
    from clipmend.debugging.heads import HeadParams, device_options, train_heads

    meta = record["meta"]
    feats = record["image_embeddings"].float().numpy()
    train = _split_mask(meta, "train")
    labels = meta["label"].to_numpy()
    params = HeadParams(**{k: v for k, v in head.items() if k != "lambda"})
    no_generated = [(feats[:0], labels[:0])]
    (trained,) = train_heads(feats[train], labels[train], no_generated, [0.0], len(record["class_names"]), params,
                             None, **device_options(run))
    return trained.predict(feats), {"weight": torch.from_numpy(trained.weight), "bias": torch.from_numpy(trained.bias)}


def spurious_attributes(record: Mapping[str, Any], detections: pd.DataFrame | None,
                        per_class: int) -> dict[int, list[str]]:
    """Each class's spurious attributes: its top ``per_class`` rows of a source's detections (by rank).

    ``detections`` None is the oracle: the attribute values over-represented in the class's
    train images (the truth of precision@1). Only values of the record's vocabulary count;
    a class without any gets none (L_ls then has no attribute negative for it, L_vs no
    "present" group).
    """
    if per_class < 1:
        raise ValueError(f"spurious.finetune.attributes_per_class must be >= 1, got {per_class}")
    vocabulary = set(record["attributes"])
    names = {name: i for i, name in enumerate(record["class_names"])}
    if detections is None:
        meta = record["meta"]
        train = meta[meta["split"] == "train"]
        shares = pd.crosstab(train["label"], train["attribute"].astype(str), normalize="index")
        common = groups.common_attributes(train["label"].to_numpy(), train["attribute"].astype(str).to_numpy())
        ranked = {label: sorted(values, key=lambda v: (-shares.loc[label, v], v)) for label, values in common.items()}
    else:
        ranked = {}
        for name, rows in detections.sort_values("rank").groupby("class_name", sort=False):
            if name not in names:
                raise ValueError(f"the detections name a class {name!r} that the features lack; "
                                 f"classes: {list(names)[:10]}")
            ranked[names[name]] = rows["attribute"].astype(str).tolist()
    return {label: [v for v in values if v in vocabulary][:per_class] for label, values in ranked.items()}


def _spurious_mask(record: Mapping[str, Any], chosen: Mapping[int, Sequence[str]]) -> np.ndarray:
    """(C, A) bool: class c's spurious attributes among the record's attribute vocabulary."""
    ids = {a: i for i, a in enumerate(record["attributes"])}
    mask = np.zeros((len(record["class_names"]), len(ids)), dtype=bool)
    for label, values in chosen.items():
        mask[label, [ids[v] for v in values]] = True
    return mask


def _finetune(record: Mapping[str, Any], method: str, finetune: Mapping[str, Any], run: RunSettings,
              seeds: Sequence[int], detections: pd.DataFrame | None = None) -> list[tuple[int, Any, pd.DataFrame]]:
    """Fine-tune the projections with ``method``'s losses once per seed; [(seed, best projections, history)].

    The spurious terms take each class's spurious attributes from ``detections`` (a source's
    detect csv; None: the oracle, ``spurious_attributes``). Paper form: L_ls pushes each
    class's prompts from its own attributes' prompts, and L_vs groups images by (class, its
    spurious attribute present). Code form: L_ls against the union of the classes' attributes,
    L_vs a CE over every attribute value (``clipmend.spurious.losses``).
    """
    from clipmend.spurious.finetune import FinetuneSettings, GroupedFeatures
    from clipmend.spurious.finetune import finetune as fit

    cfg = dict(finetune)
    weights = dict(cfg.pop("loss_weights", {}))
    grouping = cfg.pop("groups", "coarse")
    per_class = int(cfg.pop("attributes_per_class", 1))
    cfg.pop("spurious_source", None)
    cfg["weights"] = {name: float(weights.get(name, 1.0)) for name in METHOD_LOSSES[method]}
    settings = FinetuneSettings.from_config(cfg)
    meta = record["meta"]
    attribute_ids = {a: i for i, a in enumerate(record["attributes"])}
    train = meta[meta["split"] == "train"]
    common = groups.common_attributes(train["label"].to_numpy(), train["attribute"].astype(str).to_numpy())
    chosen = spurious_attributes(record, detections, per_class)
    mask = _spurious_mask(record, chosen)
    log.info("%s: spurious attributes per class from %s: %s", method,
             "the oracle" if detections is None else "the detections",
             {record["class_names"][c]: v for c, v in sorted(chosen.items())})

    def part(split: str) -> GroupedFeatures:
        rows = _split_mask(meta, split)
        labels = meta.loc[rows, "label"].to_numpy()
        values = meta.loc[rows, "attribute"].astype(str).to_numpy()
        attrs = pd.Series(values).map(attribute_ids).fillna(-1).to_numpy(dtype=np.int64)  # -1: not in the vocabulary
        if grouping == "coarse":  # class x common/uncommon: on Waterbirds the paper's 4 groups
            group_ids = labels * 2 + (groups.coarse_groups(labels, values, common) == "uncommon")
        elif grouping == "attribute":
            group_ids = labels * len(attribute_ids) + attrs
        else:
            raise ValueError(f"spurious.finetune.groups {grouping!r} is not one of: coarse, attribute")
        present = np.where(attrs >= 0, mask[labels, attrs], False).astype(np.int64)  # its spurious attribute present
        code_ids = np.where(attrs >= 0, attrs, -100)  # F.cross_entropy's ignore_index
        return GroupedFeatures(pre=record["image_pre"][torch.tensor(rows)].float(),
                               labels=torch.tensor(labels),
                               attributes=torch.tensor(code_ids if settings.loss_form == "code" else present),
                               groups=torch.tensor(np.asarray(group_ids, dtype=np.int64)))

    attribute_pre, spurious = record["attribute_text_pre"], mask
    if settings.loss_form == "code" and "ls" in settings.weights:  # the released 'spurious' field
        attribute_pre, spurious = attribute_pre[torch.from_numpy(mask.any(0))], None
    train_part, val_part = part("train"), part("val")
    runs = []
    for seed in seeds:
        settings.seed = int(seed)
        best, history = fit(_projections(record), train_part, val_part, record["class_text_pre"], attribute_pre,
                            settings, run.device, spurious=spurious)
        runs.append((int(seed), best, history.assign(seed=int(seed))))
    return runs


AIOU_COLUMNS = ["method", "model", "id", "label", "attribute", "pred", "aiou"]


def aiou_sample(meta: pd.DataFrame, max_images: int) -> pd.DataFrame:
    """Test images with a mask, class-stratified: up to ``max_images``, the same for every method."""
    test = meta[(meta["split"] == "test") & meta["mask"].notna()].sort_values("id")
    per_class = max(1, max_images // max(1, test["label"].nunique()))
    return test.groupby("label", sort=True).head(per_class).head(max_images)


def method_aiou(clip_features_path: PathLike, method_model: PathLike, aiou_out: PathLike,
                settings: Mapping[str, Any], run: RunSettings | None = None,
                threads: int | None = None) -> pd.DataFrame:
    """AIoU (§5.3) of one method: GradCAM of CLIP's image encoder for the true class vs the object mask.

    Class embeddings are the method's zero-shot ones (its projections), or the linear
    probe's weights. Data sets without masks write an empty table (logged).
    """
    from clipmend.clip.loading import load_clip
    from clipmend.data.image_batches import batched_tensors
    from clipmend.data.images import load_mask
    from clipmend.spurious.aiou import aiou, center_crop_mask, gradcam_clip
    from clipmend.spurious.finetune import class_embeddings

    run = _settings(threads, run)
    record = read_clip_features(clip_features_path)
    saved = read_torch(method_model, weights_only=False)
    meta = record["meta"]
    if "mask" not in meta or meta["mask"].isna().all():
        log.info("the data set records no object masks: no AIoU for %s", saved["method"])
        write_csv(pd.DataFrame(columns=AIOU_COLUMNS), aiou_out)
        return pd.DataFrame(columns=AIOU_COLUMNS)
    sample = aiou_sample(meta, settings["max_images"])
    clip = load_clip(record["clip"]["arch"], record["clip"]["weights"], run.device)
    if "head" in saved:
        classes, scale = saved["head"]["weight"].float(), 1.0
    else:
        projections = _projections(record, saved["projections"])
        projections.load_into(clip.model)
        with torch.no_grad():
            classes = class_embeddings(projections, record["class_text_pre"])
        scale = float(projections.scale())
    classes = classes.to(clip.device)
    scores, preds, start = [], [], 0
    for batch in batched_tensors(sample["image"].tolist(), clip.preprocess, settings["batch_size"], 0):
        maps, logits = gradcam_clip(clip.model, batch.to(clip.device), classes, scale, return_logits=True)
        for i in range(len(batch)):
            row = sample.iloc[start + i]
            mask = center_crop_mask(load_mask(row["mask"]), maps.shape[-1])  # CLIP's resize and crop
            scores.append(aiou(maps[i].numpy(), mask, int(row["label"])))
        preds.extend(logits.argmax(1).tolist())
        start += len(batch)
    table = sample[["id", "label", "attribute"]].copy() if "attribute" in sample else sample[["id", "label"]].copy()
    table["pred"], table["aiou"] = preds, scores
    table.insert(0, "model", saved["clip_model"])
    table.insert(0, "method", saved["method"])
    log.info("%s: mean AIoU %.4f over %d test images", saved["method"], float(np.mean(scores)), len(table))
    write_csv(table.reindex(columns=AIOU_COLUMNS), aiou_out)
    return table


def first_paper_predictions(features: PathLike, failure_head: PathLike, heads: PathLike, model: str,
                            index: pd.DataFrame) -> pd.DataFrame:
    """Test predictions of a first-paper model before (original) and after its debugging."""
    from clipmend.debugging.heads import predict

    meta, feats, original = _failure_predictions(features, failure_head, ["val", "test"])
    record = read_torch(heads, weights_only=False)
    predictions = {"original": original}
    for strategy in ("baseline", "random", "individual"):
        if strategy in record:
            predictions[strategy] = predict(feats, record[strategy]["weight"].numpy(), record[strategy]["bias"].numpy())
    attributes = index.set_index("id")["attribute"] if has_attribute(index) else None
    frames = []
    for strategy, pred in predictions.items():
        frame = meta[["id", "split", "label"]].copy()
        frame["attribute"] = attributes.reindex(frame["id"]).to_numpy() if attributes is not None else None
        frame["pred"] = pred
        frame.insert(0, "model", model)
        frame.insert(0, "method", strategy)
        frames.append(frame[PREDICTION_COLUMNS])
    return pd.concat(frames, ignore_index=True)


def compare(index: PathLike, classes: PathLike, method_predictions: Sequence[PathLike],
            aious: Sequence[PathLike], models: Sequence[str], model_features: Sequence[PathLike],
            failure_heads: Sequence[PathLike], debug_heads: Sequence[PathLike], group_metrics_out: PathLike,
            comparison_stem: PathLike, wga_png: PathLike, groups_png: PathLike,
            seed_predictions: Sequence[PathLike] = (), seeds_out: PathLike | None = None,
            paired_out: PathLike | None = None) -> pd.DataFrame:
    """Every method of both papers on the same test groups: worst-group, average and adjusted accuracy.

    Groups are (class, attribute value), and the coarse (class, common/uncommon); adjusted
    accuracy weights group accuracies by the train split's group sizes. ``comparison`` is each
    method's first seed; ``seeds_out`` (comparison_seeds.csv) every seed's mean with its 95%
    interval and ``paired_out`` (paired.csv) the claims' paired differences
    (``report.seed_comparison``), with the first paper's seeds from ``seed_predictions``
    (``debug_head_seeds``). ``wga_png`` plots the intervals. Data sets without a recorded
    attribute write empty tables (logged).
    """
    provenance.check_files([*method_predictions, *model_features, *failure_heads, *debug_heads])
    images = read_parquet(index)
    class_names = read_json(classes)
    clip_runs = [read_parquet(p) for p in method_predictions]
    first = [first_paper_predictions(f, h, d, m, images)
             for m, f, h, d in zip(models, model_features, failure_heads, debug_heads)]
    single = [_first_seed(p) for p in clip_runs]
    aiou = pd.concat([pd.read_csv(p) for p in aious], ignore_index=True) if aious else pd.DataFrame()
    if not has_attribute(images):
        log.info("the data set records no attribute: no groups, so no worst-group accuracy")
    long, comparison = report.group_comparison(pd.concat(single + first, ignore_index=True), images, class_names, aiou)
    write_csv(long, group_metrics_out)
    report.write_comparison(comparison, comparison_stem)
    seeded = [read_parquet(p) for p in seed_predictions]
    heldout = pd.concat([s[s["part"] == "debug_heldout"] for s in seeded], ignore_index=True) if seeded else None
    test_runs = [p[p["pred"] >= 0] for p in clip_runs]
    test_runs += [f[f["method"].isin(["original", "baseline"])].assign(seed=0) for f in first]
    test_runs += [s[(s["part"] == "test") & s["strategy"].isin(["random", "individual"])]
                  .rename(columns={"strategy": "method"}).assign(split="test") for s in seeded]
    if not seeded:  # no seeded runs of the first paper: its single run
        test_runs += [f[f["method"].isin(["random", "individual"])].assign(seed=0) for f in first]
    table, paired = report.seed_comparison(pd.concat(test_runs, ignore_index=True), images, heldout)
    if seeds_out is not None:
        write_csv(table, seeds_out)
    if paired_out is not None:
        write_csv(paired, paired_out)
    report.plot_intervals(table, wga_png)
    report.plot_group_grid(long, groups_png)
    return comparison


def _first_seed(predictions: pd.DataFrame) -> pd.DataFrame:
    """The rows of a method's first (lowest) seed, without the seed column."""
    if "seed" not in predictions:
        return predictions
    return predictions[predictions["seed"] == predictions["seed"].min()].drop(columns="seed")


def redetect(index: PathLike, classes: PathLike, models: Sequence[str], model_features: Sequence[PathLike],
             failure_heads: Sequence[PathLike], seed_predictions: Sequence[PathLike],
             assignments: Sequence[PathLike], table_out: PathLike, figure_out: PathLike, k: int,
             min_detect: int, kind: str, strategies: Sequence[str] = ("individual", "random")) -> pd.DataFrame:
    """Re-detection after the fix: δ per class and attribute before and after each model's debugging.

    Before: the head whose mistakes are the model's failures; after: its seeded debugged heads
    (``debug_head_seeds``), on the test split, where every image records its attribute. A
    class's targeted attributes are the ``k`` backgrounds its debugging generated for
    (``top_backgrounds`` of the debug_seed assignments), mapped to attribute values by the data
    set's resolver (``kind``). Data sets without a recorded attribute write an empty table (logged).
    """
    from clipmend.clip.assign import top_backgrounds
    from clipmend.evaluation.assignment import background_resolver
    from clipmend.spurious import redetect as again

    provenance.check_files([*model_features, *failure_heads])
    images = read_parquet(index)
    class_names = read_json(classes)
    frames = []
    if not has_attribute(images):
        log.info("the data set records no attribute: nothing to re-detect")
    else:
        attribute = images.set_index("id")["attribute"]
        objects = objects_by_id(images)
        resolve = background_resolver(kind)
        for model, features, head, seeded, assigned in zip(models, model_features, failure_heads,
                                                           seed_predictions, assignments):
            meta, _, before = _failure_predictions(features, head, ["test"])
            targeted = again.targeted_attributes(top_backgrounds(read_parquet(assigned), k), resolve)
            runs = read_parquet(seeded)
            runs = runs[runs["part"] == "test"]
            for strategy in strategies:
                wide = runs[runs["strategy"] == strategy].pivot(index="id", columns="seed", values="pred")
                if wide.empty:
                    continue
                after = wide.reindex(meta["id"]).to_numpy()
                if np.isnan(after.astype(float)).any():
                    raise ValueError(f"{seeded} lacks some test images of {features}; rebuild both")
                labels = meta["label"].to_numpy()
                table = again.redetect(labels, attribute.reindex(meta["id"]).to_numpy(), before == labels,
                                       after == labels[:, None], class_names, targeted, min_detect,
                                       objects=None if objects is None else objects.reindex(meta["id"]).to_numpy())
                frames.append(table.assign(model=model, strategy=strategy))
            log.info("%s: targeted attributes %s", model,
                     {class_names[c]: sorted(v) for c, v in sorted(targeted.items())})
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=again.REDETECT_COLUMNS)
    summary = again.summarize(table)
    if len(summary):
        log.info("\n%s", summary.to_string(index=False))
    write_csv(table, table_out)
    report.plot_redetect(table, summary, figure_out)
    return table
