"""collective_heads streams its generated sets: one at a time on the host, heads trained and
predictions computed on the run's device (torch), and the same matrix as training every set at
once with numpy predictions (the implementation it replaced, kept below as the reference).

Tolerance: every (source, split) accuracy within 1e-9 of the reference (the same predictions;
the heads differ by float rounding of the chunking at most), sources in the same order.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pandas as pd
import pytest

from clipmend.data.registry import DEBUG_SPLIT
from clipmend.debugging import collective, steps
from clipmend.debugging import heads as heads_module
from clipmend.debugging.heads import HeadParams, head_record, read_head, saved_heads, train_heads
from clipmend.evaluation.metrics import evaluation_sets
from clipmend.io import read_json, read_parquet, read_torch, write_json, write_parquet, write_torch
from clipmend.models.features import read_features, write_features
from clipmend.run_settings import RunSettings

CLASSES, DIM = 5, 12
HEAD = {"lr": 0.2, "momentum": 0.9, "weight_decay": 0.0005, "epochs": 30, "lambda": 0.5, "seed": 0}
FAMILIES = {"m1": "A", "m2": "A", "m3": "B"}


def _features(rng, n, shift):
    labels = np.arange(n) % CLASSES
    centres = np.random.default_rng(7).normal(size=(CLASSES, DIM)) * 1.5
    return labels, (centres[labels] + rng.normal(size=(n, DIM)) + shift).astype(np.float32)


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    splits = ["train"] * 150 + [DEBUG_SPLIT] * 100 + ["test"] * 100
    labels, feats = _features(rng, len(splits), 0.0)
    feats[150:] += rng.normal(size=(200, DIM)) * 1.2  # a shift the generated sets partly fix
    meta = pd.DataFrame({"id": [f"i{i}" for i in range(len(splits))], "split": splits, "label": labels})
    write_features(meta, feats, tmp_path / "features.parquet")
    debug = meta[meta["split"] == DEBUG_SPLIT]
    write_parquet(pd.DataFrame({"id": debug["id"], "label": debug["label"], "pred": 0,
                                "part": np.where(np.arange(len(debug)) % 2, "debug_seed", "debug_heldout")}),
                  tmp_path / "failures.parquet")
    write_torch(None, tmp_path / "failure_head.pt")
    write_json([f"c{i}" for i in range(CLASSES)], tmp_path / "classes.json")
    sources = []
    for number, (name, kind, family) in enumerate([("m1", "model", "A"), ("m2", "model", "A"), ("m3", "model", "B"),
                                                   ("A", "family", "A"), ("B", "family", "B")]):
        gen_labels, gen = _features(rng, 60 + 10 * number, rng.normal(size=DIM) * 0.5)
        path = tmp_path / f"{kind}-{name}.parquet"
        write_features(pd.DataFrame({"id": [f"g{number}-{i}" for i in range(len(gen))], "label": gen_labels}), gen,
                       path)
        sources.append({"name": name, "kind": kind, "family": family, "path": str(path)})
    # debug_heads.pt with the target's individual head (reused for its own set)
    own_meta, own = read_features(sources[0]["path"])
    params = HeadParams(**{k: v for k, v in HEAD.items() if k != "lambda"})
    train = meta["split"] == "train"
    (individual,) = train_heads(feats[train], labels[train], [(own, own_meta["label"].to_numpy())], [0.5],
                                CLASSES, params, progress=False)
    write_torch(head_record({"individual": individual}, 0.5, params), tmp_path / "debug_heads.pt")
    return tmp_path, sources


def current_matrix(folder, sources) -> pd.DataFrame:
    """The implementation streaming replaced: every set read at once, one train_heads call, numpy predictions."""
    params, lam = steps._head_params(HEAD)
    meta, feats, train, labels = steps._original_features(folder / "features.parquet")
    init, _ = read_head(folder / "failure_head.pt")
    srcs, sets = [], []
    for entry in sources:
        gen_meta, gen = read_features(entry["path"], dtype=np.float16)
        srcs.append(collective.Source(entry["name"], entry["kind"], entry["family"]))
        sets.append((gen, gen_meta["label"].to_numpy()))
    reusable = saved_heads(read_torch(folder / "debug_heads.pt"), params, lam)
    own_set = collective.Source("m1", "model", "A")
    known = {i: reusable["individual"] for i, src in enumerate(srcs) if src == own_set and reusable}
    trained = train_heads(feats[train], labels[train], sets, [lam] * len(sets), len(read_json(folder / "classes.json")),
                          params, init, known=known, progress=False)
    predictions = {s: h.predict(feats) for s, h in zip(srcs, trained)}
    evals = evaluation_sets(meta, read_parquet(folder / "failures.parquet"))
    return collective.matrix_rows("d", "m1", "A", predictions, labels, evals)


def streamed(folder, sources) -> pd.DataFrame:
    out = folder / "out"
    return steps.collective_heads(folder / "features.parquet", folder / "failure_head.pt", folder / "failures.parquet",
                                  folder / "classes.json", folder / "debug_heads.pt", sources, out / "matrix.csv",
                                  out / "metrics.csv", out / "resolution.csv", "d", "m1", "A", FAMILIES, {}, HEAD,
                                  run=RunSettings(device="cpu"))


def test_streaming_collective_heads_equal_the_current_heads(inputs, monkeypatch, one_thread):
    folder, sources = inputs
    reference = current_matrix(folder, sources)
    # streamed: no numpy predictions, and never more than one generated set alive on the host
    monkeypatch.setattr(heads_module, "predict", lambda *a: pytest.fail("numpy predictions on the host"))
    alive: list[weakref.ref] = []
    reads = []

    def read_one_set(path, *args, **kwargs):
        if "features.parquet" not in str(path):
            gc.collect()
            assert not [r for r in alive if r() is not None], f"another generated set is still held when {path} is read"
            reads.append(path)
        meta, feats = read_features(path, *args, **kwargs)
        if "features.parquet" not in str(path):
            alive.append(weakref.ref(feats))
        return meta, feats

    monkeypatch.setattr(steps, "read_features", read_one_set)
    matrix = streamed(folder, sources)
    assert reads == [s["path"] for s in sources[1:]]  # the own set's head is reused from debug_heads.pt
    assert list(matrix["source"]) == list(reference["source"])  # none skipped, none reordered
    assert list(matrix["split"]) == list(reference["split"])
    assert np.abs(matrix["accuracy"].to_numpy() - reference["accuracy"].to_numpy()).max() <= 1e-9
    assert matrix.equals(reference)
    # the accuracies differ between sets: a reordering or a skipped set would show
    by_source = matrix[matrix["split"] == "test"].set_index(["source", "source_kind"])["accuracy"]
    assert by_source.nunique() > 2, by_source


def test_a_source_listed_twice_is_an_error(inputs):
    folder, sources = inputs
    with pytest.raises(ValueError, match="listed twice"):
        streamed(folder, [*sources, sources[2]])
