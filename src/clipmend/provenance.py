"""How a model-derived output was made, recorded inside it; steps that combine outputs refuse mixtures.

A record maps each workflow step (rule) that went into an output to how that step ran:
device type and name, TF32, autocast dtype, deterministic mode, torch and CUDA versions
and batch sizes. An output's record holds its own step and the records of its
model-derived inputs. It lives where the output keeps metadata: a ``provenance`` entry
of a torch dict, the ``attrs`` of a parquet table. No timestamps or host names, so CPU
outputs stay byte-identical across runs.

``capture`` makes a step's record (after checking its inputs'); ``check`` raises a
one-line ``ProvenanceError`` naming two files whose records differ in a way that
changes numbers, and the rule to re-run. Files without a record (written before
provenance was recorded) are not checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

KEY = "provenance"
# fields that change numbers wherever they differ; batch sizes change them off the CPU only
NUMERIC_FIELDS = ("device", "device_name", "tf32", "autocast", "deterministic", "torch", "cuda")

Record = dict[str, dict[str, Any]]  # step -> how it ran


class ProvenanceError(ValueError):
    """Outputs combined in one step were made in ways that give different numbers."""


def step_fields(device: Any, autocast: str | None = None,
                batch_sizes: Mapping[str, int] | None = None) -> dict[str, Any]:
    """How the current process computes on ``device``: precision, determinism, versions."""
    import torch

    dev = torch.device(device)
    cuda = dev.type == "cuda"
    return {
        "device": dev.type,
        "device_name": torch.cuda.get_device_name(dev) if cuda else dev.type,
        "tf32": bool(cuda and torch.backends.cuda.matmul.allow_tf32),
        "cudnn_tf32": bool(cuda and torch.backends.cudnn.allow_tf32),
        "autocast": autocast,
        "deterministic": bool(torch.are_deterministic_algorithms_enabled()),
        "torch": str(torch.__version__),  # a plain str: TorchVersion would not load with weights_only
        "cuda": torch.version.cuda,
        "batch_sizes": dict(sorted((batch_sizes or {}).items())),
    }


def capture(step: str, device: Any, inputs: Mapping[str, Record | None] | None = None, *,
            autocast: str | None = None, batch_sizes: Mapping[str, int] | None = None) -> Record:
    """The record of an output of ``step``: its inputs' records (checked) plus this step's fields."""
    inputs = dict(inputs or {})
    check(inputs)
    record: Record = {}
    for previous in inputs.values():
        record.update(previous or {})
    record[step] = step_fields(device, autocast, batch_sizes)
    check({**inputs, f"this {step} job": {step: record[step]}})
    return dict(sorted(record.items()))


def _signature(fields: Mapping[str, Any]) -> tuple:
    names = NUMERIC_FIELDS + (("cudnn_tf32",) if fields.get("device") == "cuda" else ())
    return tuple((name, fields.get(name)) for name in names)


def check(records: Mapping[str, Record | None]) -> None:
    """Raise ``ProvenanceError`` unless every step of every record ran the same way (by file)."""
    seen: list[tuple[str, str, Mapping[str, Any]]] = []  # (file, step, fields)
    batches: dict[str, tuple[str, str, int]] = {}  # batch-size name -> first (file, step, value) off the CPU
    for path, record in records.items():
        for step, fields in (record or {}).items():
            if seen and _signature(fields) != _signature(seen[0][2]):
                first_path, first_step, first = seen[0]
                name = next(n for (n, a), (_, b) in zip(_signature(first), _signature(fields)) if a != b)
                raise ProvenanceError(
                    f"{first_path} ({first_step}) and {path} ({step}) were made differently "
                    f"({name}: {first.get(name)!r} vs {fields.get(name)!r}), so their numbers would mix; "
                    f"re-run the odd ones in one setting: snakemake --forcerun {step}"
                )
            seen.append((path, step, fields))
            if fields.get("device") == "cpu":
                continue
            for name, value in (fields.get("batch_sizes") or {}).items():
                first_path, first_step, first_value = batches.setdefault(name, (path, step, value))
                if value != first_value:
                    raise ProvenanceError(
                        f"{first_path} ({first_step}) and {path} ({step}) were made with different "
                        f"{name} batch sizes on {fields['device']} ({first_value} vs {value}), so their "
                        f"numbers would mix; re-run the odd ones in one setting: snakemake --forcerun {step}"
                    )


def read(path: str | Path) -> Record | None:
    """The record stored in a ``.pt`` dict or a parquet file (None: none recorded)."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        from clipmend.io import reading

        with reading(path):
            metadata = pq.read_schema(path).metadata or {}
        return json.loads(metadata.get(b"PANDAS_ATTRS", b"{}")).get(KEY)
    from clipmend.io import read_torch

    stored = read_torch(path, weights_only=False)
    return stored.get(KEY) if isinstance(stored, Mapping) else None


def read_all(paths: Any) -> dict[str, Record | None]:
    """``read`` of each path, by path (for ``capture`` and ``check``)."""
    return {str(p): read(p) for p in paths}


def check_files(paths: Any) -> None:
    """``check`` the records stored in ``paths``."""
    check(read_all(paths))


def parquet_metadata(record: Record) -> dict[bytes, bytes]:
    """Schema metadata that stores ``record`` as pandas ``attrs`` (what ``read`` reads back)."""
    return {b"PANDAS_ATTRS": json.dumps({KEY: record}, sort_keys=True).encode()}
