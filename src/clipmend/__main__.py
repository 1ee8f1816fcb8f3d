"""Run one workflow step outside Snakemake: ``python -m clipmend STEP key=value ...``.

Values are JSON where they parse as JSON (numbers, lists, dicts), strings otherwise;
``device=...`` sets the run's device. ``python -m clipmend`` lists the steps. Example::

    python -m clipmend collect_metrics 'metrics=["a/metrics.csv","b/metrics.csv"]' \\
        metrics_out=metrics.csv summary_out=summary.csv
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

# each step of the workflow (its Snakemake rule's name) and the function that runs it
STEPS = {
    "prepare_verify": "clipmend.data.prepare.steps:verify",
    "prepare_imagenet_index": "clipmend.data.prepare.steps:imagenet_index",
    "prepare_imagenet_train": "clipmend.data.prepare.steps:imagenet_train",
    "prepare_imagenet_val": "clipmend.data.prepare.steps:imagenet_val",
    "prepare_unpack": "clipmend.data.prepare.steps:unpack",
    "prepare_manifest": "clipmend.data.prepare.steps:finish",
    "prepare_data": "clipmend.data.steps:prepare_data",
    "train_backbone": "clipmend.models.steps:train_backbone",
    "train_clip": "clipmend.demo.steps:train_clip",
    "extract_features": "clipmend.models.steps:extract_features",
    "collect_failures": "clipmend.debugging.steps:collect_failures",
    "clip_debug_features": "clipmend.clip.steps:clip_debug_features",
    "propose_backgrounds": "clipmend.llm.steps:propose_backgrounds",
    "assign_backgrounds": "clipmend.clip.steps:assign_backgrounds",
    "assignment_accuracy": "clipmend.evaluation.steps:assignment_accuracy",
    "generate_images": "clipmend.generation.steps:generate_images",
    "generate_images_shard": "clipmend.generation.steps:generate_images",
    "generated_features": "clipmend.models.steps:generated_features",
    "debug_heads": "clipmend.debugging.steps:debug_heads",
    "debug_head_seeds": "clipmend.debugging.steps:debug_head_seeds",
    "collect_metrics": "clipmend.evaluation.steps:collect_metrics",
    "failure_iou": "clipmend.reporting.steps:failure_iou",
    "pool_assignments": "clipmend.debugging.steps:pool_assignments",
    "generate_collective": "clipmend.generation.steps:generate_collective",
    "generate_collective_shard": "clipmend.generation.steps:generate_collective",
    "cross_features": "clipmend.models.steps:cross_features",
    "collective_heads": "clipmend.debugging.steps:collective_heads",
    "collect_collective": "clipmend.reporting.steps:collect_collective",
    "lambda_sweep": "clipmend.debugging.steps:lambda_sweep",
    "k_sweep": "clipmend.debugging.steps:k_sweep",
    "collect_sweep": "clipmend.reporting.steps:collect_sweep",
    "paper_tables": "clipmend.reporting.steps:paper_tables",
    "failure_gallery": "clipmend.reporting.steps:failure_gallery",
    "generated_grid": "clipmend.reporting.steps:generated_grid",
    "spurious_clip_features": "clipmend.spurious.steps:clip_features",
    "spurious_detect": "clipmend.spurious.steps:detect",
    "spurious_collect_detections": "clipmend.spurious.steps:collect_detections",
    "spurious_train": "clipmend.spurious.steps:train_method",
    "spurious_aiou": "clipmend.spurious.steps:method_aiou",
    "spurious_compare": "clipmend.spurious.steps:compare",
    "score_generated_images": "clipmend.generation.steps:score_generated_images",
    "filter_images": "clipmend.generation.steps:filter_images",
    "generated_features_variant": "clipmend.models.steps:generated_features",
    "filter_quality": "clipmend.reporting.steps:filter_quality",
    "generation_variant_seeds": "clipmend.debugging.steps:variant_head_seeds",
    "generation_variants": "clipmend.reporting.steps:generation_variants",
    "edit_images": "clipmend.generation.steps:edit_images",
    "edit_features": "clipmend.models.steps:generated_features",
    "paper_redetect": "clipmend.spurious.steps:redetect",
    "export_set": "clipmend.generation.steps:export_set",
}


def step(name: str) -> Callable[..., Any]:
    """The function of workflow step ``name``."""
    if name not in STEPS:
        raise ValueError(f"unknown step {name!r}; valid: {sorted(STEPS)}")
    module, function = STEPS[name].split(":")
    return getattr(importlib.import_module(module), function)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``STEP key=value ...`` and run the step; print the steps without arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        for name in STEPS:
            print(f"  {name}{inspect.signature(step(name)) if args else ''}")
        return 0
    kwargs = {}
    for arg in args[1:]:
        key, sep, text = arg.partition("=")
        if not sep:
            raise SystemExit(f"argument {arg!r} is not key=value")
        kwargs[key] = _value(text)
    if "device" in kwargs:
        from clipmend.run_settings import RunSettings

        kwargs["run"] = RunSettings(device=str(kwargs.pop("device")))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    step(args[0])(**kwargs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
