"""Run settings: where and how fast the workflow runs, never what it computes.

Device, deterministic mode, feature batch size and memory budgets change neither a
result's meaning nor its rerun status: they are not passed to rules as ``params`` (which
Snakemake tracks), and scripts read them here from the config. Where they can change
numbers (off the CPU), every model-derived output records them (``clipmend.provenance``)
and steps that combine outputs refuse a mixture. Pure Python: no torch, importable by
``common.smk``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# config keys (dotted) that are run settings; ``strip_run_settings`` removes them from params
# (generator.batch_size is a param: with short batches padded, the images depend on it)
RUN_SETTING_KEYS = (
    "device",
    "deterministic",
    "features.batch_size",
    "memory",
    "features.dtype",
    "features.channels_last",
    "features.compile",
    "generator.attention",
    "generator.channels_last",
    "generator.compile",
)


@dataclass(frozen=True)
class RunSettings:
    """The run settings of one workflow run."""

    device: str = "auto"
    feature_batch_size: int | None = None  # None: ``auto``, per model (clipmend.cost.auto_batch_size)
    device_memory_gb: float = 40.0  # per job on the GPU (heads are chunked to fit)
    host_memory_gb: float = 16.0  # per job in host RAM
    deterministic: bool = False  # deterministic algorithms (and no TF32) on every device
    feature_dtype: str = "auto"  # autocast of extraction: auto (float16 on CUDA) | float32 | bfloat16 | float16
    feature_channels_last: bool = False  # backbones and batches in channels-last memory format
    feature_compile: bool = False  # torch.compile the backbone's forward
    generation_attention: str = "sdpa"  # diffusers attention: sdpa (scaled_dot_product_attention) | eager
    generation_channels_last: bool = False  # the UNet and VAE in channels-last memory format
    generation_compile: bool = False  # torch.compile the UNet

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RunSettings:
        memory = dict(config.get("memory") or {})
        features = dict(config.get("features") or {})
        generator = dict(config.get("generator") or {})
        return cls(
            device=str(config.get("device", cls.device)),
            feature_batch_size=_batch_size(features.get("batch_size", "auto")),
            device_memory_gb=float(memory.get("device_gb", cls.device_memory_gb)),
            host_memory_gb=float(memory.get("host_gb", cls.host_memory_gb)),
            deterministic=bool(config.get("deterministic", cls.deterministic)),
            feature_dtype=str(features.get("dtype", cls.feature_dtype)),
            feature_channels_last=bool(features.get("channels_last", cls.feature_channels_last)),
            feature_compile=bool(features.get("compile", cls.feature_compile)),
            generation_attention=str(generator.get("attention", cls.generation_attention)),
            generation_channels_last=bool(generator.get("channels_last", cls.generation_channels_last)),
            generation_compile=bool(generator.get("compile", cls.generation_compile)),
        )

    def generator_options(self) -> dict[str, Any]:
        """The generator's run settings (``create_generator``'s ``run_options``)."""
        return {"attention": self.generation_attention, "channels_last": self.generation_channels_last,
                "compile": self.generation_compile}

    def feature_options(self) -> dict[str, Any]:
        """Feature extraction's run settings (``clipmend.models.features.extract``'s keywords)."""
        return {"dtype": self.feature_dtype, "channels_last": self.feature_channels_last,
                "compile": self.feature_compile}


def settled(run: RunSettings | None) -> RunSettings:
    """``run`` (None: the defaults), with its numeric mode set for this process: call first in a job."""
    run = run or RunSettings()
    if run.deterministic:
        from clipmend.devices import set_deterministic

        set_deterministic(True)
    return run


def _batch_size(value: Any) -> int | None:
    return None if value in (None, "auto") else int(value)


def strip_run_settings(section: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` (the config section ``section``) without its run-setting keys, for params."""
    out = dict(values)
    prefix = section + "."
    for key in RUN_SETTING_KEYS:
        if not key.startswith(prefix):
            continue
        parts = key[len(prefix):].split(".")
        node = out
        for part in parts[:-1]:
            if not isinstance(node.get(part), Mapping):
                break
            node[part] = node = dict(node[part])
        else:
            node.pop(parts[-1], None)
    return out
