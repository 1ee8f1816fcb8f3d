"""The generation steps of the workflow, each runnable outside Snakemake: paths in, files out.

``generate_images`` makes a model's debug_train set (its top-k CLIP backgrounds per class)
and the matched random-debugging set; the paper's ``generate_collective`` a family's set
from its pooled failures.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clipmend import provenance
from clipmend.clip.assign import top_backgrounds
from clipmend.config_check import moved_key_error
from clipmend.generation.registry import Generator, create_generator
from clipmend.generation.requests import debug_requests, random_requests
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
                            **generator.get("options", {}))


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
                    run: RunSettings | None = None, threads: int | None = None) -> None:
    """A model's debug_train set and its matched random-debugging set (config ``generator``).

    Images go to the shared ``store``; the outputs are their manifests.
    """
    run = settled(run)
    class_names = read_json(classes)
    chosen = _chosen(assignments, generator["k"], class_names, "")
    backend = _generator(generator, run, threads)
    individual = debug_requests(chosen, class_names, generator["prompt"],
                                generator["images_per_background"], generator["seed"])
    random = random_requests(individual, class_names, generator["random_prompt"], generator["seed"])
    for requests, path in [(individual, individual_out), (random, random_out)]:
        _write_set(backend, requests, store, generator, path)


def generate_collective(assignments: PathLike, classes: PathLike, collective_out: PathLike,
                        family: str, generator: Mapping[str, Any], store: PathLike,
                        run: RunSettings | None = None, threads: int | None = None) -> None:
    """A family's collective_debug_train set from its pooled failures (as ``generate_images``)."""
    run = settled(run)
    class_names = read_json(classes)
    chosen = _chosen(assignments, generator["k"], class_names, f"family {family}, ")
    backend = _generator(generator, run, threads)
    requests = debug_requests(chosen, class_names, generator["prompt"],
                              generator["images_per_background"], generator["seed"])
    _write_set(backend, requests, store, generator, collective_out)
