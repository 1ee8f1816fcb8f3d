"""The feature steps of the workflow, each runnable outside Snakemake: paths in, files out.

``train_backbone`` (a model trained from scratch), ``extract_features`` (every image of a
data set, and the model's own head), ``generated_features`` (its generated sets) and the
paper's ``cross_features`` (every other generated set, each image extracted once).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from clipmend import provenance
from clipmend.data.images import UnreadableImageError
from clipmend.data.registry import DEBUG_SPLIT
from clipmend.debugging.heads import predict
from clipmend.devices import resolve_device
from clipmend.generation.filter import kept_rows
from clipmend.io import read_json, read_parquet, write_torch
from clipmend.models.backbones import Backbone, create_backbone, create_model, model_transform
from clipmend.models.features import autocast_dtype, batch_size_for, extract, read_features, write_features
from clipmend.models.spec import ModelSpec
from clipmend.models.training import TrainParams, train_classifier
from clipmend.run_settings import RunSettings, settled

log = logging.getLogger(__name__)

PathLike = str | Path


def _backbone(model: str, entry: Mapping[str, Any], classes: PathLike, weights: PathLike | None,
              run: RunSettings, threads: int | None) -> Backbone:
    if threads:
        torch.set_num_threads(threads)
    spec = ModelSpec.from_config(model, entry)
    return create_backbone(spec, len(read_json(classes)), weights or None, run.device)


def _extract(backbone: Backbone, refs: Sequence[str], run: RunSettings, desc: str,
             entry: Mapping[str, Any]) -> np.ndarray:
    return extract(backbone.features, backbone.transform, list(refs), batch_size_for(run, dict(entry)),
                   run.device, desc=desc, module=backbone.model, **run.feature_options())


def _made(step: str, run: RunSettings, inputs: Mapping[str, Any] | None = None) -> dict:
    """The provenance record of a feature step's outputs (batch size None: ``auto``, per model)."""
    device = resolve_device(run.device)
    return provenance.capture(step, device, inputs, autocast=autocast_dtype(device, run.feature_dtype),
                              batch_sizes={"features": run.feature_batch_size})


def train_backbone(index: PathLike, classes: PathLike, weights_out: PathLike, model: str,
                   entry: Mapping[str, Any], train: Mapping[str, Any],
                   run: RunSettings | None = None, threads: int | None = None) -> None:
    """Train a backbone from scratch on the data set's train split (the demo's models)."""
    run = settled(run)
    if threads:
        torch.set_num_threads(threads)
    spec = ModelSpec.from_config(model, entry)
    class_names = read_json(classes)
    images = read_parquet(index)
    train_rows = images[images["split"] == "train"]
    params = TrainParams(**train)
    torch.manual_seed(params.seed)  # the random initial weights, too, must be reproducible
    net = create_model(spec, num_classes=len(class_names), pretrained=False)
    state = train_classifier(net, model_transform(net), train_rows["image"].tolist(),
                             train_rows["label"].to_numpy(), params, run.device)
    write_torch(state, weights_out)


def extract_features(index: PathLike, classes: PathLike, features_out: PathLike,
                     own_head_out: PathLike, model: str, entry: Mapping[str, Any],
                     weights: PathLike | None = None, run: RunSettings | None = None,
                     threads: int | None = None) -> None:
    """A model's features of every train, debug and test image, and its own head (or None)."""
    run = settled(run)
    backbone = _backbone(model, entry, classes, weights, run, threads)
    images = read_parquet(index)
    images = images[images["split"].isin(["train", DEBUG_SPLIT, "test"])].reset_index(drop=True)
    features = _extract(backbone, images["image"], run, backbone.spec.name, entry)
    head = backbone.classifier()
    meta = images[["id", "split", "label"]].copy()
    if head is not None:  # decisions from float32 logits, before the features are stored as float16
        meta["pred"] = predict(features, head[0].numpy(), head[1].numpy())
    write_features(meta, features, features_out, _made("extract_features", run))
    write_torch(None if head is None else {"weight": head[0], "bias": head[1]}, own_head_out)


def generated_features(manifests: Mapping[str, PathLike], classes: PathLike,
                       outputs: Mapping[str, PathLike], model: str, entry: Mapping[str, Any],
                       weights: PathLike | None = None, run: RunSettings | None = None,
                       threads: int | None = None) -> None:
    """A model's features of its generated image sets (``manifests`` and ``outputs`` by set name).

    A filtered manifest (``clipmend.generation.filter``) marks the images it dropped
    (``kept`` False): they get no features, so no head ever trains on them.
    """
    run = settled(run)
    backbone = _backbone(model, entry, classes, weights, run, threads)
    for name, path in manifests.items():
        manifest = kept_rows(read_parquet(path))
        try:
            features = _extract(backbone, manifest["image"], run, f"{backbone.spec.name} {name}", entry)
        except UnreadableImageError as err:
            err.add_note(f"{path} lists it: re-run with `--forcerun {path}`, and the image store "
                         "regenerates its unreadable images")
            raise
        made = _made("generated_features", run, provenance.read_all([path]))
        write_features(manifest[["id", "label"]], features, outputs[name], made)


def cross_features(own: Sequence[PathLike], manifests: Mapping[str, PathLike], classes: PathLike,
                   out_dir: PathLike, model: str, entry: Mapping[str, Any],
                   weights: PathLike | None = None, run: RunSettings | None = None,
                   threads: int | None = None) -> None:
    """A target model's features of other generated sets, one ``{source}.parquet`` each.

    Images are keyed by content, so sets overlap: features the target already has (``own``:
    its own individual and random sets) are reused, and every other image is extracted once.
    A filtered manifest's dropped images get no features (as in ``generated_features``).
    """
    run = settled(run)
    if threads:
        torch.set_num_threads(threads)
    made = _made("cross_features", run, provenance.read_all([*own, *manifests.values()]))
    known = {}
    for path in own:
        meta, features = read_features(path)
        known.update(zip(meta["id"], features))
    tables = {source: kept_rows(read_parquet(p)) for source, p in manifests.items()}
    images = pd.concat(tables.values())[["id", "image"]].drop_duplicates("id")
    todo = images[~images["id"].isin(known.keys())]
    log.info("%d sets, %d distinct images, %d with features already, %d to extract",
             len(tables), len(images), len(images) - len(todo), len(todo))
    if len(todo):
        backbone = _backbone(model, entry, classes, weights, run, None)
        known.update(zip(todo["id"], _extract(backbone, todo["image"], run, backbone.spec.name, entry)))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for source, manifest in tables.items():
        rows = [known[i] for i in manifest["id"]]
        features = np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)
        write_features(manifest[["id", "label"]], features, out / f"{source}.parquet", made)
