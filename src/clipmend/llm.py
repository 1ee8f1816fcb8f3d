"""LLM backends that propose uncommon backgrounds per class.

A backend answers the prompt (config ``llm.prompt``, with a ``{class_name}``
placeholder) once per class and returns an ``Answer``: the raw text it got back and
the background phrases parsed from it. The ``table`` backend reads a fixed table from
config (like the paper's Table 1); an OpenAI-compatible backend plugs in the same way.
"""

from __future__ import annotations

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


def create_backend(name: str, **options: Any) -> BackgroundBackend:
    """Build the LLM backend called ``name`` with its config options."""
    _import_backends()
    if name not in BACKENDS:
        raise ValueError(f"unknown llm backend {name!r}; valid: {sorted(BACKENDS)}")
    return BACKENDS[name](**options)


def _import_backends() -> None:
    try:
        import clipmend.llm_openai  # noqa: F401
    except ModuleNotFoundError as err:
        if err.name != "clipmend.llm_openai":
            raise


def format_prompt(prompt: str, class_name: str) -> str:
    """Fill the ``{class_name}`` placeholder, with a clear error for a bad template."""
    try:
        return prompt.format(class_name=class_name)
    except (KeyError, IndexError, ValueError) as err:
        raise ValueError(
            f"llm.prompt {prompt!r} is not a valid template: it may use only the "
            f"placeholder {{class_name}} ({err!r})"
        ) from None


@register_backend("table")
class TableBackend:
    """Answers from a fixed per-class table in config (the demo's stand-in for an LLM)."""

    name = "table"

    def __init__(self, table: dict[str, list[str]]):
        self.table = table

    def ask(self, class_names: Sequence[str], prompt: str) -> dict[str, Answer]:
        answers = {}
        for class_name in class_names:
            format_prompt(prompt, class_name)
            if class_name not in self.table:
                raise ValueError(
                    f"llm.table has no backgrounds for class {class_name!r}; "
                    f"classes in the table: {sorted(self.table)}"
                )
            items = list(self.table[class_name])
            answers[class_name] = Answer(raw="\n".join(items), items=items)
        return answers
