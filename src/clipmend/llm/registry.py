"""LLM backends that propose uncommon backgrounds per class.

A backend answers the prompt (config ``llm.prompt``, with a ``{class_name}``
placeholder) once per class and returns an ``Answer``: the raw text it got back and
the background phrases parsed from it. Backends (``table`` in ``clipmend.llm.table``, an
OpenAI-compatible one in ``clipmend.llm.openai_backend``) register themselves here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Answer:
    """One class's answer: the raw text and the background phrases parsed from it."""

    raw: str
    items: list[str]
    usage: dict[str, int] = field(default_factory=dict)


class BackgroundBackend(Protocol):
    """What every LLM backend provides."""

    name: str

    def ask(self, class_names: Sequence[str], prompt: str) -> dict[str, Answer]:
        """Ask ``prompt`` (formatted with each class name) and parse each answer."""


BACKENDS: dict[str, Callable[..., BackgroundBackend]] = {}


def register_backend(name: str) -> Callable:
    """Class decorator: make an LLM backend creatable by ``name`` from config."""

    def wrap(factory: Callable[..., BackgroundBackend]) -> Callable[..., BackgroundBackend]:
        BACKENDS[name] = factory
        return factory

    return wrap


# the module of each built-in backend, imported only when that backend is asked for
BACKEND_MODULES = {
    "table": "clipmend.llm.table",
    "openai": "clipmend.llm.openai_backend",
}


def create_backend(name: str, **options: Any) -> BackgroundBackend:
    """Build the LLM backend called ``name`` with its config options."""
    if name in BACKEND_MODULES and name not in BACKENDS:
        importlib.import_module(BACKEND_MODULES[name])
    if name not in BACKENDS:
        valid = sorted(set(BACKENDS) | set(BACKEND_MODULES))
        raise ValueError(f"unknown llm backend {name!r}; valid: {valid}")
    return BACKENDS[name](**options)


def format_prompt(prompt: str, class_name: str) -> str:
    """Fill the ``{class_name}`` placeholder, with a clear error for a bad template."""
    try:
        return prompt.format(class_name=class_name)
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(
            f"llm.prompt {prompt!r} is not a valid template: it may use only the "
            f"placeholder {{class_name}} ({err!r})"
        ) from None
