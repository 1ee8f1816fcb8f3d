"""Background phrases: the one normalisation every step compares them by."""

from __future__ import annotations

import re
import string
from collections.abc import Collection

EDGE_PUNCTUATION = string.punctuation + "“”‘’«»–—…"

_IRREGULAR = {
    "leaves": "leaf", "wolves": "wolf", "shelves": "shelf", "halves": "half",
    "knives": "knife", "lives": "life", "loaves": "loaf", "calves": "calf",
    "people": "person", "men": "man", "women": "woman", "children": "child",
    "mice": "mouse", "geese": "goose", "feet": "foot", "teeth": "tooth",
}
_NOT_PLURAL = frozenset(
    "species series news gas canvas atlas lens shoes toes canoes floes oboes".split()
)
_NO_S_STRIP = ("ss", "us", "is")


def normalize_phrase(phrase: str) -> str:
    """Lower-case, collapse whitespace and strip punctuation at both ends."""
    return " ".join(phrase.lower().split()).strip(EDGE_PUNCTUATION + " ")


def phrase_words(phrase: str, drop_leading: Collection[str] = (), keep_one: bool = True) -> list[str]:
    """The normalised phrase's words, punctuation removed, leading ``drop_leading`` words dropped.

    With ``keep_one`` the last word is kept even when it is in ``drop_leading``.
    """
    words = re.sub(r"[^\w\s]", " ", normalize_phrase(phrase).replace("'", "")).split()
    while len(words) > int(keep_one) and words[0] in drop_leading:
        words = words[1:]
    return words


def singular(word: str) -> str:
    """A simple English singular of one lower-case word ('beaches' -> 'beach')."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or word in _NOT_PLURAL or word.endswith(_NO_S_STRIP):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zzes", "oes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word
