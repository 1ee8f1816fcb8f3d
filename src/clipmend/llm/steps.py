"""The background-proposal step of the workflow, runnable outside Snakemake: paths in, a file out."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clipmend.io import read_json, write_json
from clipmend.llm.backgrounds import propose_backgrounds as propose
from clipmend.llm.registry import create_backend
from clipmend.run_settings import RunSettings, settled

log = logging.getLogger(__name__)

PathLike = str | Path


def propose_backgrounds(classes: PathLike, backgrounds_out: PathLike, llm: Mapping[str, Any],
                        clip: Mapping[str, Any] | None = None, clip_weights: PathLike | None = None,
                        run: RunSettings | None = None) -> dict[str, Any]:
    """Ask the LLM backend (config ``llm``), per class, for uncommon backgrounds; de-duplicate them.

    With ``llm.dedup_threshold`` set, near-synonyms are dropped by the similarity of CLIP
    (config ``clip``: arch and weights; ``clip_weights`` a checkpoint file) text embeddings.
    The run's ``usage`` (requests, cache hits, tokens) is logged and returned, not written.
    """
    run = settled(run)
    class_names = read_json(classes)
    backend = create_backend(llm["backend"], **llm.get("options", {}))
    embed, threshold = None, llm.get("dedup_threshold")
    if threshold is not None:  # near-synonyms by CLIP text-embedding similarity
        from clipmend.clip.loading import load_clip

        weights = clip_weights or clip["weights"]
        embed = load_clip(clip["arch"], weights, run.device).encode_texts
    result = propose(backend, class_names, llm["prompt"], embed=embed,
                     threshold=threshold or 1.0, fallback=llm.get("fallback"))
    # requests, cache hits and tokens describe this run, not the answers: a resumed run
    # must write the same file as an undisturbed one, so they go to the log only
    log.info("llm usage of this run: %s", result["usage"])
    write_json({k: v for k, v in result.items() if k != "usage"}, backgrounds_out)
    return result
