"""The generation steps of the workflow, each runnable outside Snakemake: paths in, files out.

``generate_images`` makes a model's debug_train set (its top-k CLIP backgrounds per class)
and the matched random-debugging set; the paper's ``generate_collective`` a family's set
from its pooled failures.

A set too large for one job (config ``cluster.max_job_hours``, ``clipmend.cost.generation_shards``)
is made by shard jobs, each the classes of one contiguous label range (``shard=(i, n)``), into the
same content-addressed store; ``merge_manifests`` then joins their manifests in shard order,
which is the unsharded manifest byte for byte.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clipmend import provenance
from clipmend.clip.assign import top_backgrounds
from clipmend.config_check import moved_key_error
from clipmend.cost import shard_labels
from clipmend.generation.edit import SEED_PART, SourceEditor, edit_requests, edit_settings, source_sha, sources_of
from clipmend.generation.registry import Generator, create_generator
from clipmend.generation.requests import ImageRequest, debug_requests, random_requests
from clipmend.generation.store import generate_set
from clipmend.io import read_json, read_parquet, write_parquet
from clipmend.run_settings import RunSettings, settled

log = logging.getLogger(__name__)

PathLike = str | Path


def _chosen(assignments: PathLike, k: int, class_names: list[str], what: str) -> dict[int, list[str]]:
    chosen = top_backgrounds(read_parquet(assignments), k, part="debug_seed")
    log.info("%stop-%d backgrounds per class: %s", what, k,
             {class_names[c]: b for c, b in chosen.items()})
    return chosen


DEFAULT_BATCH_SIZE = 8  # the schema's default of generator.batch_size


def batch_size(generator: Mapping[str, Any]) -> int:
    """Prompts per generator call (config ``generator.batch_size``, a param: images depend on it)."""
    return int(generator.get("batch_size", DEFAULT_BATCH_SIZE))


def _generator(generator: Mapping[str, Any], run: RunSettings, threads: int | None) -> Generator:
    moved = moved_key_error({"generator": generator})  # a moved key would collide with an argument below
    if moved:
        raise ValueError(moved)
    if threads:
        import torch

        torch.set_num_threads(threads)
    return create_generator(generator["backend"], run.device, batch_size(generator),
                            run.generator_options(), **generator.get("options", {}))


def _in_shard(requests: list[ImageRequest], classes: int, shard: Sequence[int] | None) -> list[ImageRequest]:
    """The requests of shard ``shard`` = (i, n) of the classes (all of them when None)."""
    if shard is None:
        return requests
    labels = shard_labels(classes, *shard)
    log.info("shard %d of %d: classes %d..%d", shard[0] + 1, shard[1], labels.start, labels.stop - 1)
    return [r for r in requests if r.label in labels]


def _write_set(backend: Generator, requests: list, store: PathLike, generator: Mapping[str, Any],
               out: PathLike) -> None:
    """Generate ``requests`` into ``store`` and write their manifest, with how this job made them."""
    manifest = generate_set(backend, requests, store, batch_size(generator))
    manifest.attrs[provenance.KEY] = provenance.capture(
        "generate_images", getattr(backend, "device", "cpu"),  # copy-paste: numpy on the host
        batch_sizes={"generation": batch_size(generator)})
    write_parquet(manifest, out)


def generate_images(assignments: PathLike, classes: PathLike, individual_out: PathLike,
                    random_out: PathLike, generator: Mapping[str, Any], store: PathLike,
                    run: RunSettings | None = None, threads: int | None = None,
                    shard: Sequence[int] | None = None, individual_parts: Sequence[PathLike] = (),
                    random_parts: Sequence[PathLike] = ()) -> None:
    """A model's debug_train set and its matched random-debugging set (config ``generator``).

    Images go to the shared ``store``; the outputs are their manifests. ``shard`` = (i, n):
    only the classes of shard i of n (``clipmend.cost.shard_labels``). Given the shard jobs'
    manifests (``individual_parts``, ``random_parts``, in shard order), it merges them instead.
    """
    if individual_parts or random_parts:
        merge_manifests(individual_parts, individual_out)
        merge_manifests(random_parts, random_out)
        return
    run = settled(run)
    class_names = read_json(classes)
    chosen = _chosen(assignments, generator["k"], class_names, "")
    backend = _generator(generator, run, threads)
    individual = debug_requests(chosen, class_names, generator["prompt"],
                                generator["images_per_background"], generator["seed"])
    random = random_requests(individual, class_names, generator["random_prompt"], generator["seed"])
    for requests, path in [(individual, individual_out), (random, random_out)]:
        _write_set(backend, _in_shard(requests, len(class_names), shard), store, generator, path)


def generate_collective(assignments: PathLike, classes: PathLike, collective_out: PathLike,
                        family: str, generator: Mapping[str, Any], store: PathLike,
                        run: RunSettings | None = None, threads: int | None = None,
                        shard: Sequence[int] | None = None, parts: Sequence[PathLike] = ()) -> None:
    """A family's collective_debug_train set from its pooled failures (as ``generate_images``)."""
    if parts:
        merge_manifests(parts, collective_out)
        return
    run = settled(run)
    class_names = read_json(classes)
    chosen = _chosen(assignments, generator["k"], class_names, f"family {family}, ")
    backend = _generator(generator, run, threads)
    requests = debug_requests(chosen, class_names, generator["prompt"],
                              generator["images_per_background"], generator["seed"])
    _write_set(backend, _in_shard(requests, len(class_names), shard), store, generator, collective_out)


def edit_images(assignments: PathLike, failures: PathLike, index: PathLike, classes: PathLike,
                edit_out: PathLike, generator: Mapping[str, Any], store: PathLike,
                run: RunSettings | None = None, threads: int | None = None,
                shard: Sequence[int] | None = None, parts: Sequence[PathLike] = ()) -> pd.DataFrame:
    """A model's ``edit`` set: its debug_seed failures edited into its top-k backgrounds per class.

    Images go to the shared content-addressed ``store`` (claims, atomic writes, safety retries
    as every generated set); the output is their manifest, the individual set's columns plus
    ``source`` and ``source_sha``. ``shard`` and ``parts`` as in ``generate_images``: the
    requests come in label order, so the merged shards are the unsharded manifest.
    """
    if parts:
        return merge_manifests(parts, edit_out)
    run = settled(run)
    class_names = read_json(classes)
    chosen = _chosen(assignments, generator["k"], class_names, "edit: ")
    found = read_parquet(failures)
    seeds = found[found["part"] == SEED_PART].sort_values("id")
    sources = sources_of(read_parquet(index), list(seeds["id"]))
    shas = {i: source_sha(s) for i, s in sources.items()}
    requests = edit_requests(seeds, found, chosen, class_names, generator["prompt"],
                             generator["images_per_background"], generator["seed"], shas)
    requests = _in_shard(requests, len(class_names), shard)
    # an editor keeps the source's own object: the text generator's defect model (copypaste's
    # ``defects``) is not its option, so the demo's edits are defect-free (stated in the README)
    options = {k: v for k, v in (generator.get("options") or {}).items() if k != "defects"}
    edit_options = {"options": {**options, **edit_settings(generator)}}
    backend = _generator({**generator, **edit_options, "backend": f"{generator['backend']}-edit"}, run, threads)
    editor = SourceEditor(backend, sources)
    log.info("editing %d debug_seed failures into %d images", len(seeds), len(requests))
    manifest = generate_set(editor, requests, store, batch_size(generator))
    manifest.attrs[provenance.KEY] = provenance.capture(
        "edit_images", editor.device, batch_sizes={"generation": batch_size(generator)})
    write_parquet(manifest, edit_out)
    return manifest


def merge_manifests(parts: Sequence[PathLike], out: PathLike) -> pd.DataFrame:
    """One set's manifest from its shards' manifests (in shard order): rows joined, safety counts summed.

    Shards are contiguous class ranges in label order, so the rows come in the unsharded
    order, and the file is the one an unsharded job writes, byte for byte.
    """
    if not parts:
        raise ValueError("merge_manifests needs at least one shard manifest")
    frames = [read_parquet(p) for p in parts]
    # a shard with no images (its classes had no backgrounds or no failures) has no per-image columns
    made = [(path, frame) for path, frame in zip(parts, frames) if len(frame)] or [(parts[0], frames[0])]
    columns = list(made[0][1].columns)
    for path, frame in made:
        if list(frame.columns) != columns:
            raise ValueError(f"shard manifest {path} has columns {list(frame.columns)}, "
                             f"not those of {made[0][0]}: {columns}; re-run its shard job")
    rows = [row for frame in frames for row in frame.to_dict("records")]
    manifest = pd.DataFrame(rows, columns=columns)
    manifest.attrs["safety"] = {key: sum(int(f.attrs.get("safety", {}).get(key, 0)) for f in frames)
                                for key in ("blanked", "regenerated", "dropped")}
    records = {str(path): frame.attrs.get(provenance.KEY) for path, frame in zip(parts, frames)}
    provenance.check(records)  # shards made on different devices would mix in one set
    if frames[0].attrs.get(provenance.KEY) is not None:
        manifest.attrs[provenance.KEY] = frames[0].attrs[provenance.KEY]
    log.info("merged %d shard manifests: %d images", len(frames), len(manifest))
    write_parquet(manifest, out)
    return manifest


def score_generated_images(manifests: Sequence[PathLike], backgrounds: PathLike, classes: PathLike,
                           out: PathLike, arch: str, weights: str, prompt: str,
                           run: RunSettings | None = None, threads: int | None = None,
                           known: PathLike | None = None) -> pd.DataFrame:
    """CLIP's scores of every distinct image of ``manifests``, once each: the shared scores table.

    Models share generated images through the content-addressed store (a manifest row's ``id``
    is its image's key, which holds its prompt's class and background), so the scores of an image
    are the same for every model that asked for it: one job embeds each image once, and each
    model's ``filter_images`` only applies its thresholds. ``prompt``: config ``clip.prompt``.
    ``known``: a scores table made before (the models' sets, for the families' pooled sets): its
    images' rows are copied, only the others are embedded, and CLIP is not loaded when none is left.
    """
    import torch

    from clipmend.clip.loading import load_clip
    from clipmend.generation import filter as image_filter
    from clipmend.models.features import batch_size_for, extract

    run = settled(run)
    if threads:
        torch.set_num_threads(threads)
    class_names = read_json(classes)
    columns = ["id", "image", "label", "background"]
    frames = [read_parquet(p)[columns] for p in manifests]
    pooled = pd.concat(frames, ignore_index=True).drop_duplicates("id", ignore_index=True)
    log.info("%d distinct images in %d manifests (%d rows)", len(pooled), len(frames), sum(map(len, frames)))
    before = read_parquet(known) if known is not None else pd.DataFrame({"id": []})
    before = before[before["id"].isin(pooled["id"])]
    todo = pooled[~pooled["id"].isin(before["id"])].reset_index(drop=True)
    if known is not None:
        log.info("%d of them scored before (%s), %d to score", len(before), known, len(todo))
    table = before
    if len(todo) or known is None:
        # every background proposed for any class (a prompted one is one of them): the same options
        # whichever sets a job scores, so the known rows' scores are those this job would give
        options = image_filter.candidate_backgrounds(read_json(backgrounds), list(todo["background"]))
        clip = load_clip(arch, weights, run.device)
        features = extract(clip.encode_images, clip.preprocess, todo["image"].tolist(),
                           batch_size_for(run, {"arch": arch}), run.device, desc="filter scores",
                           module=clip.model) if len(todo) else np.zeros((0, 1))
        scores = image_filter.score_images(todo, features, class_names, options, clip.encode_texts,
                                           prompt, float(clip.model.logit_scale.exp().item()))
        table = pd.concat([before, pd.concat([todo[["id"]], scores], axis=1)], ignore_index=True)
    table = table.set_index("id").loc[pooled["id"]].reset_index()  # the manifests' order
    write_parquet(table, out)
    return table


def filter_images(manifests: Mapping[str, PathLike], scores: PathLike, outputs: Mapping[str, PathLike],
                  thresholds: Mapping[str, Any]) -> dict[str, int]:
    """Each set's manifest with its images' scores (``score_generated_images``) and ``kept``; images dropped per set.

    ``thresholds``: config ``filter.thresholds``. Manifests keep their rows (dropped ones marked
    ``kept`` False), so what was dropped stays visible. One manifest is held at a time.
    """
    from clipmend.generation import filter as image_filter

    thresholds = image_filter.check_thresholds(thresholds)
    table = read_parquet(scores)
    out = {}
    for name, path in manifests.items():
        manifest = read_parquet(path)
        scored = image_filter.with_scores(manifest, table, str(scores))
        scored["kept"] = image_filter.decide(scored, thresholds)
        scored.attrs = dict(manifest.attrs)
        scored.attrs["filter"] = {"thresholds": thresholds, "dropped": int((~scored["kept"]).sum())}
        log.info("filter %s: %d of %d images dropped (thresholds %s)", name, (~scored["kept"]).sum(),
                 len(scored), thresholds)
        write_parquet(scored, outputs[name])
        out[name] = int((~scored["kept"]).sum())
    return out


def export_set(manifest: PathLike, classes: PathLike, out_dir: PathLike, link: bool = True) -> pd.DataFrame:
    """Export one generated set as a data set: an ImageFolder tree, metadata.csv and SHA256SUMS under ``out_dir``.

    See ``clipmend.generation.export``; image paths in the manifest are relative to the working directory.
    """
    from clipmend.generation.export import export_set as export

    return export(read_parquet(manifest), out_dir, len(read_json(classes)), link=link)
