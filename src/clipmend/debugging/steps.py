"""The debugging steps of the workflow, each runnable outside Snakemake: paths in, files out.

``collect_failures`` (the debug-set failures), ``debug_heads`` (baseline, random and
individual debugging), and the paper's ``pool_assignments``, ``collective_heads``,
``lambda_sweep`` and ``k_sweep``. Run settings (device, memory) come as a ``RunSettings``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from clipmend import config, provenance
from clipmend.clip.assign import top_backgrounds
from clipmend.data.registry import DEBUG_SPLIT
from clipmend.debugging import collective, failures, sweeps
from clipmend.debugging.heads import (
    DevicePredictor,
    HeadParams,
    device_options,
    head_record,
    read_head,
    saved_heads,
    train_heads,
)
from clipmend.evaluation.metrics import evaluation_sets, metric_rows
from clipmend.generation.filter import kept_rows
from clipmend.io import read_json, read_parquet, read_torch, write_csv, write_parquet, write_torch
from clipmend.models.features import read_features
from clipmend.run_settings import RunSettings, settled

log = logging.getLogger(__name__)

PathLike = str | Path


def _device_options(run: RunSettings | None, threads: int | None) -> dict[str, Any]:
    """``device`` and ``memory_bytes`` for ``train_heads`` from the run settings."""
    if threads:
        torch.set_num_threads(threads)
    return device_options(settled(run))


def _made(step: str, devices: Mapping[str, Any], *inputs: PathLike) -> dict[str, Any]:
    """This job's provenance record over its model-derived ``inputs`` (refused if they mix setups)."""
    return provenance.capture(step, devices["device"], provenance.read_all(inputs))


def _head_params(head: Mapping[str, Any]) -> tuple[HeadParams, float]:
    """The config's ``head`` section as ``(HeadParams, λ)``."""
    cfg = dict(head)
    lam = cfg.pop("lambda")
    return HeadParams(**cfg), lam


def _original_features(path: PathLike) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Meta, features, train mask and labels of a model's original features."""
    meta, features = read_features(path)
    return meta, features, (meta["split"] == "train").to_numpy(), meta["label"].to_numpy()


def collect_failures(features: PathLike, own_head: PathLike, classes: PathLike, failures_out: PathLike,
                     failure_head_out: PathLike, seed: int, mode: str, baseline: Mapping[str, Any],
                     run: RunSettings | None = None, threads: int | None = None) -> pd.DataFrame:
    """The debug-set images the model gets wrong, each in its debug_seed or debug_heldout part.

    Failures are those of the model's own classifier (its float32 logits, recorded as ``pred``
    at extraction), or of a baseline head trained on the train split when it has none
    (``mode``); that head is written to ``failure_head_out`` for ``debug_heads``.
    """
    devices = _device_options(run, threads)
    made = _made("collect_failures", devices, features)
    class_names = read_json(classes)
    own, _ = read_head(own_head)
    meta, feats = read_features(features, splits=["train", DEBUG_SPLIT])
    train = (meta["split"] == "train").to_numpy()
    labels = meta["label"].to_numpy()
    weight, bias, source = failures.failure_head(mode, own, feats[train], labels[train],
                                                 len(class_names), HeadParams(**baseline),
                                                 **devices)
    debug = meta[~train].reset_index(drop=True)
    pred = failures.failure_predictions(debug, feats[~train], weight, bias, source)
    found = failures.collect_failures(debug, pred, seed)
    log.info("%d failures of the %s head in %d debug images: %s", len(found), source,
             len(debug), found["part"].value_counts().to_dict())
    found.attrs[provenance.KEY] = made
    write_parquet(found, failures_out)
    write_torch({"weight": torch.from_numpy(weight), "bias": torch.from_numpy(bias), "source": source,
                 provenance.KEY: made}, failure_head_out)
    return found


def debug_heads(features: PathLike, failure_head: PathLike, failures_path: PathLike, individual: PathLike,
                random: PathLike, classes: PathLike, heads_out: PathLike, metrics_out: PathLike,
                dataset: str, model: str, family: str, head: Mapping[str, Any],
                run: RunSettings | None = None, threads: int | None = None) -> pd.DataFrame:
    """Retrain the linear head: baseline (λ = 0), random and individual debugging; score them.

    The heads train on the run's device within its memory budget; ``heads_out``
    (``debug_heads.pt``) keeps them for the paper rules.
    """
    devices = _device_options(run, threads)
    made = _made("debug_heads", devices, features, failure_head, failures_path, individual, random)
    params, lam = _head_params(head)
    class_names = read_json(classes)
    meta, feats, train, labels = _original_features(features)
    generated = {s: read_features(p) for s, p in (("random", random), ("individual", individual))}
    init, source = read_head(failure_head)
    strategies = ["baseline", "random", "individual"]
    sets = [(feats[:0], labels[:0])] + [(f, m["label"].to_numpy()) for m, f in generated.values()]
    heads = train_heads(feats[train], labels[train], sets, [0.0, lam, lam], len(class_names), params,
                        init, **devices)
    predictions = {s: h.predict(feats) for s, h in zip(strategies, heads)}
    if init is not None:
        original = failures.failure_predictions(meta, feats, init[0], init[1], source)
        predictions = {"original": original, **predictions}
    metrics = metric_rows(dataset, model, family, predictions, labels,
                          evaluation_sets(meta, read_parquet(failures_path)))
    log.info("\n%s", metrics.to_string(index=False))
    # reused by the paper rules (collective_heads, lambda_sweep, k_sweep) where their settings match
    write_torch(head_record(dict(zip(strategies, heads)), lam, params) | {provenance.KEY: made}, heads_out)
    write_csv(metrics, metrics_out)
    return metrics


SEED_COLUMNS = ["model", "strategy", "seed", "id", "part", "label", "pred"]


def debug_head_seeds(features: PathLike, failure_head: PathLike, failures_path: PathLike, individual: PathLike,
                     random: PathLike, classes: PathLike, predictions_out: PathLike, model: str,
                     head: Mapping[str, Any], seeds: Sequence[int], run: RunSettings | None = None,
                     threads: int | None = None) -> pd.DataFrame:
    """Random and individual debugging once per seed, each seed resampling its generated sets; their predictions.

    Seed s draws each generated set with replacement to its own size (``numpy`` generator s),
    so the spread over seeds is that of the generated sample the head is trained on (the head
    training itself is full-batch, so deterministic). All heads train in one call; the single-run
    outputs of ``debug_heads`` are untouched. Rows (``SEED_COLUMNS``): the test split and the
    debug_heldout failures, and the λ = 0 baseline once (seed = the first seed), which the
    held-out gain is measured against.
    """
    table = _seed_predictions(features, failure_head, failures_path, {"random": random, "individual": individual},
                              classes, predictions_out, model, head, seeds, run, threads)
    log.info("%s: %d seeds of random and individual debugging", model, len(seeds))
    return table


def _seed_predictions(features: PathLike, failure_head: PathLike, failures_path: PathLike,
                      generated_sets: Mapping[str, PathLike], classes: PathLike, predictions_out: PathLike,
                      model: str, head: Mapping[str, Any], seeds: Sequence[int], run: RunSettings | None,
                      threads: int | None) -> pd.DataFrame:
    """One head per (generated set, seed), each seed resampling the set, and the λ = 0 baseline; predictions."""
    devices = _device_options(run, threads)
    params, lam = _head_params(head)
    meta, feats, train, labels = _original_features(features)
    init, _ = read_head(failure_head)
    generated = {s: read_features(p) for s, p in generated_sets.items()}
    jobs, sets = [], [(feats[:0], labels[:0])]
    for seed in seeds:
        rng = np.random.default_rng(int(seed))
        for strategy, (gen_meta, gen_feats) in generated.items():
            pick = rng.integers(0, len(gen_feats), len(gen_feats)) if len(gen_feats) else np.arange(0)
            sets.append((gen_feats[pick], gen_meta["label"].to_numpy()[pick]))
            jobs.append((strategy, int(seed)))
    heads = train_heads(feats[train], labels[train], sets, [0.0] + [lam] * len(jobs), len(read_json(classes)),
                        params, init, **devices)
    parts = evaluation_sets(meta, read_parquet(failures_path))
    frames = []
    for (strategy, seed), trained in zip([("baseline", int(seeds[0])), *jobs], heads):
        pred = trained.predict(feats)
        for part in ("test", "debug_heldout"):
            rows = parts[part]
            frames.append(pd.DataFrame({"model": model, "strategy": strategy, "seed": seed, "part": part,
                                        "id": meta["id"].to_numpy()[rows], "label": labels[rows],
                                        "pred": pred[rows]}))
    table = pd.concat(frames, ignore_index=True)[SEED_COLUMNS]
    write_parquet(table, predictions_out)
    return table


def variant_head_seeds(features: PathLike, failure_head: PathLike, failures_path: PathLike,
                       variants: Mapping[str, PathLike], classes: PathLike, predictions_out: PathLike, model: str,
                       head: Mapping[str, Any], seeds: Sequence[int], run: RunSettings | None = None,
                       threads: int | None = None) -> pd.DataFrame:
    """Individual debugging with each generation variant's set (``variants``: name -> features), once per seed.

    As ``debug_head_seeds``, with the variants as strategies: the same seeds, the same λ = 0
    baseline, rows ``SEED_COLUMNS`` (strategy = variant), for ``generation_variants.csv``.
    """
    table = _seed_predictions(features, failure_head, failures_path, variants, classes, predictions_out,
                              model, head, seeds, run, threads)
    log.info("%s: %d seeds of individual debugging with variants %s", model, len(seeds), list(variants))
    return table


def pool_assignments(assignments: Sequence[PathLike], members: Sequence[str], out: PathLike,
                     family: str, strict: bool) -> pd.DataFrame:
    """Pool the debug_seed assignments of a family's members (collective debugging, type 1)."""
    members = list(members)
    tables = {m: read_parquet(p) for m, p in zip(members, assignments)}
    pooled = collective.pool_assignments(tables, members, strict=strict)
    log.info("family %s: %d pooled debug_seed failures (%s)", family, len(pooled),
             pooled["model"].value_counts().to_dict())
    write_parquet(pooled, out)
    return pooled


def collective_heads(features: PathLike, failure_head: PathLike, failures_path: PathLike, classes: PathLike,
                     heads: PathLike, sources: Sequence[Mapping[str, str]], matrix_out: PathLike,
                     metrics_out: PathLike, resolution_out: PathLike, dataset: str, model: str, family: str,
                     families: Mapping[str, str], representatives: Mapping[str, str],
                     head: Mapping[str, Any], run: RunSettings | None = None,
                     threads: int | None = None) -> pd.DataFrame:
    """One target model's head trained with each generated set (a collective matrix row).

    Yields the target's collective_family (type 1) and collective_single (type 2) metrics, and
    which heldout failures each resolves next to individual debugging. The target's own set at
    the configured λ is individual debugging: its head comes from ``heads`` (debug_heads.pt).
    ``sources``: name, kind, family and feature file of each generated set.

    The sets stream: one at a time is read (float16), its head trained on the run's device
    and its predictions computed there (``DevicePredictor``), then the set is let go, so the
    host holds the original features and one set, never all of them.
    """
    devices = _device_options(run, threads)
    _made("collective_heads", devices, features, failure_head, heads, *(e["path"] for e in sources))
    params, lam = _head_params(head)
    reps = config.representatives({m: {"family": f} for m, f in families.items()},
                                  representatives)
    class_names = read_json(classes)
    meta, feats, train, labels = _original_features(features)
    init, _ = read_head(failure_head)
    reusable = saved_heads(read_torch(heads), params, lam)
    own_set = collective.Source(model, "model", family)
    predict = DevicePredictor(feats, **devices)
    budget = devices["memory_bytes"] - predict.device_bytes  # what head training has left
    if budget <= 0:
        raise ValueError(f"the features of {model} take {predict.device_bytes / 2**30:.1f} GiB of the "
                         f"memory budget of {devices['memory_bytes'] / 2**30:.1f} GiB: raise memory.device_gb")
    x_train, y_train = feats[train], labels[train]
    predictions: dict[collective.Source, np.ndarray] = {}
    for number, entry in enumerate(sources):
        src = collective.Source(entry["name"], entry["kind"], entry["family"])
        if src in predictions:
            raise ValueError(f"source {src.label!r} is listed twice in the collective sources")
        if src == own_set and reusable:
            trained = reusable["individual"]
            log.info("source %d/%d %s at lambda %s: reused from debug_heads.pt", number + 1, len(sources),
                     src.label, lam)
        else:
            gen_meta, gen = read_features(entry["path"], dtype=np.float16)  # half the memory, same values
            log.info("source %d/%d %s at lambda %s: %d generated rows", number + 1, len(sources), src.label,
                     lam, len(gen))
            (trained,) = train_heads(x_train, y_train, [(gen, gen_meta["label"].to_numpy())], [lam],
                                     len(class_names), params, init, device=devices["device"],
                                     memory_bytes=budget)
            del gen_meta, gen
        predictions[src] = predict(trained)
    del predict
    evals = evaluation_sets(meta, read_parquet(failures_path))
    matrix = collective.matrix_rows(dataset, model, family, predictions, labels, evals)
    metrics = collective.collective_metrics(matrix, reps)
    by_strategy = {s: predictions[src]
                   for s, src in collective.strategy_sources(model, family, reps).items()}
    resolution = collective.resolution_rows(dataset, model, family, by_strategy, labels,
                                            evals["debug_heldout"])
    log.info("\n%s\n%s", metrics.to_string(index=False), resolution.to_string(index=False))
    write_csv(matrix, matrix_out)
    write_csv(metrics, metrics_out)
    write_csv(resolution, resolution_out)
    return matrix


def _sweep_inputs(features: PathLike, failure_head: PathLike, failures_path: PathLike, classes: PathLike):
    meta, feats, train, labels = _original_features(features)
    init, _ = read_head(failure_head)
    sets = evaluation_sets(meta, read_parquet(failures_path))
    evals = {split: (feats[idx], labels[idx]) for split, idx in sets.items()}
    return feats[train], labels[train], evals, len(read_json(classes)), init


def lambda_sweep(features: PathLike, failure_head: PathLike, failures_path: PathLike, classes: PathLike,
                 generated: PathLike, heads: PathLike, out: PathLike, lambdas: Sequence[float], dataset: str,
                 model: str, family: str, head: Mapping[str, Any],
                 run: RunSettings | None = None, threads: int | None = None) -> pd.DataFrame:
    """Figure 5a for one model: accuracy per λ, every λ in one head training.

    λ = 0 (the baseline) and the configured λ (individual debugging) reuse debug_heads.pt.
    """
    devices = _device_options(run, threads)
    _made("lambda_sweep", devices, features, failure_head, generated, heads)
    params, lam = _head_params(head)
    x, y, evals, num_classes, init = _sweep_inputs(features, failure_head, failures_path, classes)
    gen_meta, gen = read_features(generated)
    reusable = saved_heads(read_torch(heads), params, lam)
    known = {value: reusable[name] for value, name in ((0.0, "baseline"), (lam, "individual"))
             if name in reusable}
    log.info("reused from debug_heads.pt at lambda %s", sorted(known))
    rows = sweeps.lambda_sweep(x, y, (gen, gen_meta["label"].to_numpy()), lambdas, evals,
                               num_classes, params, init, dataset=dataset, model=model,
                               family=family, known=known, **devices)
    log.info("\n%s", rows.pivot_table(index="value", columns="split", values="accuracy"))
    write_csv(rows, out)
    return rows


def k_sweep(features: PathLike, failure_head: PathLike, failures_path: PathLike, classes: PathLike,
            assignments: PathLike, manifest: PathLike, generated: PathLike, heads: PathLike, out: PathLike,
            ks: Sequence[int], dataset: str, model: str, family: str, head: Mapping[str, Any],
            run: RunSettings | None = None, threads: int | None = None) -> pd.DataFrame:
    """Figure 5b for one model: accuracy per k, each k the first k backgrounds of its generated set.

    The generated set holds generator.k backgrounds per class in ``top_backgrounds`` order, so
    every smaller k is a subset of it: nothing is generated or extracted again. A k whose subset
    is the whole set (k = generator.k) is individual debugging: its head comes from debug_heads.pt.
    """
    devices = _device_options(run, threads)
    _made("k_sweep", devices, features, failure_head, generated, heads)
    params, lam = _head_params(head)
    ks = list(ks)
    x, y, evals, num_classes, init = _sweep_inputs(features, failure_head, failures_path, classes)
    gen_meta, gen = read_features(generated)
    made = read_parquet(manifest)
    images = kept_rows(made)  # a filtered set's features are of its kept images
    if not np.array_equal(images["id"].to_numpy(), gen_meta["id"].to_numpy()):
        raise ValueError(f"{generated} is not aligned with {manifest}; rebuild it")
    chosen = top_backgrounds(read_parquet(assignments), max(ks), part="debug_seed")
    pairs = set(zip(made["label"].tolist(), made["background"].tolist()))
    gens = sweeps.k_subsets(gen, images, chosen, ks, generated=pairs)
    log.info("images per k: %s", {k: len(labels) for k, (_, labels) in gens.items()})
    reusable = saved_heads(read_torch(heads), params, lam)
    # all rows, in order: debug_heads' individual set, so its head
    known = {k: reusable["individual"] for k, (_, labels) in gens.items()
             if len(labels) == len(gen) and reusable}
    log.info("reused from debug_heads.pt at k %s", sorted(known))
    rows = sweeps.k_sweep(x, y, gens, lam, evals, num_classes, params, init, dataset=dataset,
                          model=model, family=family, known=known, **devices)
    log.info("\n%s", rows.pivot_table(index="value", columns="split", values="accuracy"))
    write_csv(rows, out)
    return rows
