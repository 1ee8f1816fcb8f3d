"""The ``table`` LLM backend: a fixed per-class table from config (like the paper's Table 1)."""

from __future__ import annotations

from collections.abc import Sequence

from clipmend.llm.registry import Answer, format_prompt, register_backend


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
