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
# fields that change numbers: the run's, which every step must share, and a step's own (the
# precision a step chooses on its device: heads use TF32, extraction float16 autocast), which
# every record of that step must share; batch sizes change numbers off the CPU only
RUN_FIELDS = ("device", "device_name", "deterministic", "torch", "cuda")
STEP_FIELDS = ("tf32", "cudnn_tf32", "autocast")

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


def _refuse(first: tuple[str, str, Mapping[str, Any]], path: str, step: str, fields: Mapping[str, Any],
            names: tuple[str, ...]) -> None:
    first_path, first_step, first_fields = first
    for name in names:
        if first_fields.get(name) != fields.get(name):
            raise ProvenanceError(
                f"{first_path} ({first_step}) and {path} ({step}) were made differently "
                f"({name}: {first_fields.get(name)!r} vs {fields.get(name)!r}), so their numbers would "
                f"mix; re-run the odd ones in one setting: snakemake --forcerun {step}"
            )


def check(records: Mapping[str, Record | None]) -> None:
    """Raise ``ProvenanceError`` unless the records agree in every field that changes numbers."""
    run: tuple[str, str, Mapping[str, Any]] | None = None  # the first (file, step, fields)
    steps: dict[str, tuple[str, str, Mapping[str, Any]]] = {}
    batches: dict[str, tuple[str, str, Mapping[str, Any]]] = {}  # batch-size name -> first off the CPU
    for path, record in records.items():
        for step, fields in (record or {}).items():
            run = run or (path, step, fields)
            _refuse(run, path, step, fields, RUN_FIELDS)
            _refuse(steps.setdefault(step, (path, step, fields)), path, step, fields, STEP_FIELDS)
            if fields.get("device") == "cpu":
                continue
            for name, value in (fields.get("batch_sizes") or {}).items():
                first_path, first_step, first = batches.setdefault(name, (path, step, fields))
                if value != first["batch_sizes"][name]:
                    raise ProvenanceError(
                        f"{first_path} ({first_step}) and {path} ({step}) were made with different "
                        f"{name} batch sizes on {fields['device']} ({first['batch_sizes'][name]} vs "
                        f"{value}), so their numbers would mix; re-run the odd ones in one setting: "
                        f"snakemake --forcerun {step}"
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
