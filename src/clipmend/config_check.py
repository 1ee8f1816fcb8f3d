"""Config checks that run before the workflow is built: pure Python, no torch.

Snakemake parses ``--config KEY=VALUE`` values, but leaves values nested in a YAML
mapping (``--config head='{lambda: 0.7}'``) as strings; ``coerce_cli_strings`` turns
such a string into the number or boolean the schema asks for. ``short_error`` turns a
jsonschema error into one line naming the key, the bad value and what is valid.
``moved_key_error`` rejects a config written for an earlier layout (``MOVED_KEYS``).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import yaml

# Keys of earlier layouts (dotted) -> where their value goes now. A config that still sets
# one fails at validation, before any job runs; add a row whenever a key moves.
MOVED_KEYS = {
    "generator.options.device": "the top-level `device` (a run setting: auto | cpu | cuda)",
    "generator.options.batch_size": "`generator.batch_size` (prompts per generator call)",
    "generator.options.attention": "`generator.attention` (a run setting: sdpa | eager)",
    "generator.options.channels_last": "`generator.channels_last` (a run setting)",
    "generator.options.compile": "`generator.compile` (a run setting)",
    # the class check phrases every class with the background the image shows, through clip.prompt
    "filter.class_prompt": "`clip.prompt` only (the filter's class check phrases every class with it and the "
                           "image's own background)",
}


def _lookup(config: Mapping[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def moved_key_error(config: Mapping[str, Any], moved: Mapping[str, str] = MOVED_KEYS) -> str | None:
    """One line naming the first key of ``config`` that has moved and its new place (None: none)."""
    for old, new in moved.items():
        found, value = _lookup(config, old)
        if found:
            return (f"invalid config at {old}: {value!r} is set where an earlier layout had it; "
                    f"{old} has moved: remove it and set {new} (see config/README.md)")
    return None


_TYPES = {"number": (int, float), "integer": (int,), "boolean": (bool,)}


def _wanted(schema: Mapping[str, Any]) -> tuple[type, ...]:
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    return tuple(t for k in kinds for t in _TYPES.get(k, ()))


def _coerce(value: str, wanted: tuple[type, ...]) -> Any:
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    if isinstance(parsed, bool) and bool not in wanted:
        return value
    return parsed if isinstance(parsed, wanted) else value


def coerce_cli_strings(config: MutableMapping[str, Any], schema: Mapping[str, Any]) -> None:
    """In place: strings where the schema wants a number, integer or boolean become one."""
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    for key, value in list(config.items()):
        sub = properties.get(key, extra if isinstance(extra, Mapping) else None)
        if not isinstance(sub, Mapping):
            continue
        if isinstance(value, MutableMapping):
            coerce_cli_strings(value, sub)
        elif isinstance(value, str) and _wanted(sub):
            config[key] = _coerce(value, _wanted(sub))


def short_error(error: Any) -> str:
    """One line for a jsonschema ``ValidationError``: key, message, the rule it broke."""
    from jsonschema.exceptions import best_match

    bad = best_match([error])
    key = ".".join(map(str, bad.absolute_path)) or "(top level)"
    return (
        f"invalid config at {key}: {bad.message} "
        f"(schema rule {bad.validator}: {bad.validator_value!r}; "
        "every key is documented in workflow/schemas/config.schema.yaml)"
    )
