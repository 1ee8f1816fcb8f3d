"""Pure functions of a workflow config: families, representatives, generated-set sources.

No third-party imports: ``workflow/rules/common.smk`` builds its input functions on these,
and the library uses the same ones, so the two cannot disagree.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Mapping, MutableMapping
from typing import Any

ModelsConfig = Mapping[str, Mapping[str, Any]]

# model lists a config may name instead of listing them (``models: paper``)
ZOOS = {"paper": "clipmend.models.zoo:PAPER_MODELS"}


def resolve_models(config: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace ``models: NAME`` (a zoo, e.g. ``paper``: Table 5's 40 models) by its entries, in place."""
    name = config.get("models")
    if isinstance(name, str):
        if name not in ZOOS:
            raise ValueError(f"models is {name!r}; a config lists its models or names a zoo: {sorted(ZOOS)}")
        module, attribute = ZOOS[name].split(":")
        config["models"] = copy.deepcopy(getattr(importlib.import_module(module), attribute))
    return config


def model_families(models_cfg: ModelsConfig) -> dict[str, str]:
    """Each model's family, models in config order."""
    families = {}
    for model, entry in models_cfg.items():
        if not entry.get("family"):
            raise ValueError(f"model {model!r} has no family in its config entry {dict(entry)}")
        families[model] = str(entry["family"])
    return families


def family_members(models_cfg: ModelsConfig) -> dict[str, list[str]]:
    """Members of each family, families and members in config order."""
    members: dict[str, list[str]] = {}
    for model, family in model_families(models_cfg).items():
        members.setdefault(family, []).append(model)
    return members


def representatives(models_cfg: ModelsConfig, chosen: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each family's representative for collective type 2: ``chosen`` (config
    ``paper.representatives``) where given, else the family's first member."""
    members = family_members(models_cfg)
    chosen = dict(chosen or {})
    unknown = sorted(set(chosen) - set(members))
    if unknown:
        raise ValueError(
            f"paper.representatives names unknown families {unknown}; families: {list(members)}"
        )
    for family, model in chosen.items():
        if model not in members[family]:
            raise ValueError(
                f"paper.representatives: {model!r} is not a member of family {family!r} "
                f"({members[family]})"
            )
    return {family: chosen.get(family, models[0]) for family, models in members.items()}


def source_names(models_cfg: ModelsConfig) -> list[str]:
    """Every generated set of the collective matrix: ``model-X`` per model, then ``family-F`` per family."""
    return [f"model-{m}" for m in models_cfg] + [f"family-{f}" for f in family_members(models_cfg)]


def parse_source(source: str) -> tuple[str, str]:
    """``model-X`` or ``family-F`` as ``(kind, name)``."""
    kind, sep, name = source.partition("-")
    if not sep or kind not in ("model", "family"):
        raise ValueError(f"generated set {source!r} is neither model-NAME nor family-NAME")
    return kind, name
