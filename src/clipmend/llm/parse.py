"""Parse an LLM's free-text answer into a list of background phrases.

LLM answers come in many shapes: a JSON list (sometimes cut off by the token limit), a
numbered or bulleted markdown list with explanations, a comma-separated sentence. This
module extracts the head phrase of each item ("1. **Beach**: sea lions ..." -> "Beach"),
drops junk (intros, headings, sentences, phrases over ``MAX_WORDS`` words) and exact
repeats, and keeps the order. It never raises: an answer with nothing usable gives [].
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from clipmend.text import normalize_phrase

MAX_WORDS = 6

_FENCE = re.compile(r"```[a-zA-Z]*\s*(.*?)\s*(?:```|$)", re.DOTALL)
_JSON_LIST_START = re.compile(r"\[\s*\"")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"(?!\s*:)')
_MARKER = re.compile(r"^\s*(?:\d{1,3}\s*[.)]|\(\d{1,3}\)|[-*+•–]|[a-zA-Z][.)](?=\s))\s*")
_BOLD_HEAD = re.compile(r"^(\*\*|__)(.+?)\1")
_HEAD_END = re.compile(r"\s*(?::|\s[-–—]\s|\(|,|\.\s|;)")
_HEAD_END_NO_COMMA = re.compile(r"\s*(?::|\s[-–—]\s|\(|\.\s)")
_LEAD_IN = re.compile(
    r"^.*\b(?:appears?|be found|be seen|found|seen|lives?|includes?|including|"
    r"such as|like|are|is)\b\s*:?\s*",
    re.IGNORECASE,
)
_INTRO = re.compile(
    r"^(?:here\s+(?:are|is)|sure\b|certainly|of course|the following|below\s+(?:are|is)|"
    r"i hope|i'm|i am|i can|sorry\b|unfortunately\b|note\b|in summary|overall\b|"
    r"in conclusion|as an ai|"
    r"uncommon backgrounds?\b|backgrounds?\b|these\s+(?:are|include))",
    re.IGNORECASE,
)
_NOT_IN_A_PLACE_NAME = frozenset(
    "i i'm you we me my they them he she it it's which who have has had cannot can't sorry".split()
)
_EDGE_JUNK = " \t\"'`*_“”‘’«».,;:!?#>[]{}"


def parse_backgrounds(text: str) -> list[str]:
    """Extract the background phrases from one LLM answer, in order, without repeats."""
    body = _strip_fences(text or "")
    candidates = _json_items(body)
    if candidates is None:
        candidates = _list_items(body)
    return _unique(phrase for phrase in map(_clean, candidates) if _usable(phrase))


def _strip_fences(text: str) -> str:
    """Return the inside of a markdown code fence if there is one, else the text."""
    match = _FENCE.search(text)
    return match.group(1) if match else text.strip()


def _json_items(text: str) -> list[str] | None:
    """Items of a JSON list (or of the first list in a JSON object); None if not JSON."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return _json_list_in(text)
    if isinstance(value, dict):
        value = next((v for v in value.values() if isinstance(v, list)), None)
    if not isinstance(value, list):
        return None
    return [_json_item(item) for item in value]


def _json_list_in(text: str) -> list[str] | None:
    """Quoted strings of a JSON list inside prose, also when the list is cut off."""
    start = _JSON_LIST_START.search(text)
    if start is None:
        return None
    tail = text[start.start():]
    end = tail.rfind("]")
    if end > 0:
        try:
            value = json.loads(tail[: end + 1])
            if isinstance(value, list):
                return [_json_item(v) for v in value]
        except json.JSONDecodeError:
            pass
    return [_head(_unescape(m), at_comma=False) for m in _QUOTED.findall(tail)]


def _unescape(raw: str) -> str:
    """Decode JSON string escapes, leaving the text as is if they are malformed."""
    try:
        return json.loads(f'"{raw}"')
    except json.JSONDecodeError:
        return raw


def _json_item(item: object) -> str:
    """The head phrase of a JSON list item: a string, or an object's first string value."""
    if isinstance(item, dict):
        item = next((v for v in item.values() if isinstance(v, str)), "")
    return _head(item, at_comma=False) if isinstance(item, str) else ""


def _list_items(text: str) -> list[str]:
    """Items of a markdown list if the text has one, else of a comma or line list."""
    lines = [line for line in text.splitlines() if line.strip()]
    marked = [line for line in lines if _MARKER.match(line)]
    if marked:
        return [_head(_MARKER.sub("", line, count=1)) for line in marked]
    if len(lines) > 1 and not any(re.search(r"[,;]", line) for line in lines):
        return [_head(line) for line in lines]
    return _comma_items(" ".join(lines))


def _comma_items(text: str) -> list[str]:
    """Items of prose like 'They appear in deserts, caves and ice.': its most list-like sentence."""
    if ":" in text:
        text = text.split(":", 1)[1]
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    return max((_sentence_items(s) for s in sentences), key=_count_usable)


def _sentence_items(sentence: str) -> list[str]:
    """Split one sentence at commas, semicolons and a final 'and'/'or'; drop lead-ins."""
    parts = [p.strip() for p in re.split(r"[,;]", sentence)]
    if len(parts) > 1:
        parts[-1:] = re.split(r"^(?:and|or)\s+|\s+(?:and|or)\s+", parts[-1])
    return [_head(_LEAD_IN.sub("", p) if len(p.split()) > MAX_WORDS // 2 else p) for p in parts]


def _count_usable(items: list[str]) -> int:
    """How many items would survive cleaning and the junk filter."""
    return sum(_usable(_clean(item)) for item in items)


def _head(item: str, at_comma: bool = True) -> str:
    """The head phrase of a list item: the bold part, or the text before ':', ' - ', '('."""
    item = item.strip()
    bold = _BOLD_HEAD.match(item)
    if bold:
        return bold.group(2)
    end = _HEAD_END if at_comma else _HEAD_END_NO_COMMA
    return end.split(item, maxsplit=1)[0]


def _clean(phrase: str) -> str:
    """Drop markdown, double quotes and punctuation at the ends; collapse whitespace."""
    phrase = re.sub(r"\*\*|`|[\"“”]", "", phrase)
    return " ".join(phrase.split()).strip(_EDGE_JUNK).strip()


def _usable(phrase: str) -> bool:
    """Whether a cleaned phrase looks like a background, not junk or a sentence."""
    words = phrase.split()
    return (
        0 < len(words) <= MAX_WORDS
        and any(ch.isalpha() for ch in phrase)
        and not _INTRO.match(phrase)
        and not _NOT_IN_A_PLACE_NAME.intersection(word.lower() for word in words)
    )


def _unique(phrases: Iterable[str]) -> list[str]:
    """Keep the first of each phrase, comparing normalised phrases."""
    seen: set[str] = set()
    kept = []
    for phrase in phrases:
        if normalize_phrase(phrase) not in seen:
            seen.add(normalize_phrase(phrase))
            kept.append(phrase)
    return kept
