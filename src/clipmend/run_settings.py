"""Run settings: where and how fast the workflow runs, never what it computes.

Device, batch sizes and memory budgets change neither a result's meaning nor its
rerun status: they are not passed to rules as ``params`` (which Snakemake tracks), and
scripts read them here from the config. Pure Python: no torch, importable by
``common.smk``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# config keys (dotted) that are run settings; ``strip_run_settings`` removes them from params
RUN_SETTING_KEYS = (
    "device",
    "features.batch_size",
    "memory",
    "generator.batch_size",
    "generator.options.batch_size",
)


@dataclass(frozen=True)
class RunSettings:
    """The run settings of one workflow run."""

    device: str = "auto"
    feature_batch_size: int | None = None  # None: ``auto``, per model (clipmend.cost.auto_batch_size)
    device_memory_gb: float = 40.0  # per job on the GPU (heads are chunked to fit)
    host_memory_gb: float = 16.0  # per job in host RAM
    generation_batch_size: int = 8  # prompts per generator call

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RunSettings:
        memory = dict(config.get("memory") or {})
        return cls(
            device=str(config.get("device", cls.device)),
            feature_batch_size=_batch_size((config.get("features") or {}).get("batch_size", "auto")),
            device_memory_gb=float(memory.get("device_gb", cls.device_memory_gb)),
            host_memory_gb=float(memory.get("host_gb", cls.host_memory_gb)),
            generation_batch_size=int(
                (config.get("generator") or {}).get("batch_size", cls.generation_batch_size)
            ),
        )


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
