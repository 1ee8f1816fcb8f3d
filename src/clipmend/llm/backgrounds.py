"""Turn an LLM backend's answers into a clean, de-duplicated background list per class.

The paper asks an LLM, per class, "What are the uncommon backgrounds that a
{class_name} can appear in?" and removes redundant answers. Here redundancy is removed
in two steps: phrases with the same key (case, punctuation, leading prepositions and
articles, plural forms) collapse to the first one, and, given a text embedder,
phrases whose embedding is within ``threshold`` cosine similarity of an earlier kept
phrase are dropped as near-synonyms.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from clipmend.llm.registry import Answer, BackgroundBackend
from clipmend.text import normalize_phrase, phrase_words, singular

log = logging.getLogger(__name__)

Embedder = Callable[[list[str]], np.ndarray]

_LEADING_FILLERS = frozenset(
    "in on at under near the a an inside within into onto by beside among amid".split()
)


def background_key(phrase: str) -> str:
    """The de-duplication key: normalised, no leading preposition/article, singular words."""
    return " ".join(singular(word) for word in phrase_words(phrase, _LEADING_FILLERS))


def dedupe_backgrounds(
    items: Sequence[str], embed: Embedder | None = None, threshold: float = 0.9
) -> list[str]:
    """Normalise items and keep the first of each key group, then drop near-synonyms."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"dedup threshold must be in (0, 1], got {threshold!r}")
    by_key: dict[str, str] = {}
    for item in items:
        phrase = normalize_phrase(item)
        key = background_key(phrase)
        if key and key not in by_key:
            by_key[key] = phrase
    kept = list(by_key.values())
    if embed is None or len(kept) < 2:
        return kept
    return _drop_near_synonyms(kept, embed, threshold)


def _drop_near_synonyms(phrases: list[str], embed: Embedder, threshold: float) -> list[str]:
    """Drop each phrase whose cosine similarity to an earlier kept phrase is >= threshold."""
    vectors = np.asarray(embed(phrases), dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[0] != len(phrases):
        raise ValueError(
            f"embedder returned shape {vectors.shape} for {len(phrases)} phrases; "
            f"expected ({len(phrases)}, dim)"
        )
    kept: list[int] = []
    for i in range(len(phrases)):
        if not kept or float(np.max(vectors[kept] @ vectors[i])) < threshold:
            kept.append(i)
    return [phrases[i] for i in kept]


def propose_backgrounds(
    backend: BackgroundBackend,
    class_names: Sequence[str],
    prompt: str,
    embed: Embedder | None = None,
    threshold: float = 0.9,
    fallback: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Ask the backend for every class and return de-duplicated backgrounds as JSON data."""
    answers = backend.ask(class_names, prompt)
    classes: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    for class_name in class_names:
        answer = answers.get(class_name)
        if answer is None:
            raise ValueError(f"llm backend {backend.name!r} returned no answer for {class_name!r}")
        backgrounds = dedupe_backgrounds(answer.items, embed, threshold)
        if not backgrounds and fallback:
            log.warning(
                "llm gave no usable background for class %r (raw answer %r); "
                "using llm.fallback",
                class_name, answer.raw[:200],
            )
            backgrounds = dedupe_backgrounds(fallback, embed, threshold)
        if not backgrounds:
            failed.append(f"{class_name!r} (raw answer: {answer.raw[:200]!r})")
        classes[class_name] = {
            "backgrounds": backgrounds, "raw": answer.raw, "parsed": list(answer.items)
        }
    if failed:
        raise ValueError(
            f"llm backend {backend.name!r} gave no usable background for class "
            f"{'; '.join(failed)}. Check the model and prompt, or set "
            "llm.fallback to a list of backgrounds to use instead."
        )
    return {
        "prompt": prompt,
        "backend": backend.name,
        "classes": classes,
        "usage": _usage_summary(backend, answers),
    }


def _usage_summary(backend: BackgroundBackend, answers: dict[str, Answer]) -> dict[str, Any]:
    """The backend's own run summary if it has one, else the summed per-answer usage."""
    summary = getattr(backend, "summary", None)
    if callable(summary):
        return summary()
    totals: dict[str, int] = {}
    for answer in answers.values():
        for name, value in answer.usage.items():
            totals[name] = totals.get(name, 0) + value
    return totals
