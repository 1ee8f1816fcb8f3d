"""From the archives a user has to the layouts the data-set builders read.

Each kind's archives are verified against their published checksums (``checksums``),
unpacked one class at a time into a staging folder and renamed into place
(``tree``), and the prepared tree gets a manifest of every file (``manifest``) that
``prepare_data`` checks before it indexes the images. ``imagenet``, ``cifar`` and
``waterbirds`` hold what is particular to each kind; ``ARCHIVES`` names the archives
each kind's ``prepare:`` config takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# kind -> the archive keys its prepare.archives may hold; a tuple of alternatives per need
ARCHIVES: dict[str, dict[str, tuple[str, ...]]] = {
    "imagenet": {"train": ("train",), "val": ("val", "devkit")},
    "cifar10": {"archive": ("archive",)},
    "cifar100": {"archive": ("archive",)},
    "waterbirds": {"archive": ("archive",)},
}
# the flat-val alternative of ImageNet's val archive + devkit (the layout mirrors ship)
FLAT_VAL = ("val_dir", "val_solution")


def check_prepare_config(name: str, kind: str, prepare: Mapping[str, Any]) -> None:
    """Raise a one-line ValueError if data set ``name``'s ``prepare`` section cannot work."""
    if kind not in ARCHIVES:
        raise ValueError(f"datasets.{name}.prepare: kind {kind!r} has no prepare step; "
                         f"kinds with one: {sorted(ARCHIVES)}")
    archives = dict(prepare.get("archives") or {})
    valid = sorted({k for keys in ARCHIVES[kind].values() for k in keys})
    unknown = sorted(set(archives) - set(valid))
    if unknown:
        raise ValueError(f"datasets.{name}.prepare.archives: {unknown} unknown for kind {kind}; valid: {valid}")
    for key in ("checksums", "urls"):
        extra = sorted(set(prepare.get(key) or {}) - set(valid))
        if extra:
            raise ValueError(f"datasets.{name}.prepare.{key}: {extra} are not archives of kind {kind}; "
                             f"valid: {valid}")
    flat = [k for k in FLAT_VAL if prepare.get(k)]
    if kind == "imagenet" and flat:
        if len(flat) != len(FLAT_VAL) or "val" in archives or "devkit" in archives:
            raise ValueError(f"datasets.{name}.prepare: give either archives val and devkit, or both "
                             f"val_dir and val_solution; got archives {sorted(archives)} and {flat}")
        return
    for need, keys in ARCHIVES[kind].items():
        missing = [k for k in keys if not archives.get(k)]
        if need == "train" and len(missing) == len(keys):
            continue  # ImageNet without train: the loader warns that no train split exists
        if missing:
            alt = " (or val_dir and val_solution)" if kind == "imagenet" and need == "val" else ""
            raise ValueError(f"datasets.{name}.prepare.archives lacks {missing}{alt}; "
                             f"kind {kind} needs {list(keys)}")


def needed_archives(kind: str, prepare: Mapping[str, Any]) -> list[str]:
    """The archive keys of a (checked) prepare section that are set."""
    archives = prepare.get("archives") or {}
    return [k for keys in ARCHIVES[kind].values() for k in keys if archives.get(k)]
