"""An on-disk cache of LLM answers, one JSON file per request (never holding an API key)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from clipmend.io import write_with

log = logging.getLogger(__name__)


def cache_path(cache_dir: Path, request: dict[str, Any]) -> Path:
    """The cache file of a request: its content hash under ``cache_dir``."""
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
    return cache_dir / f"{digest}.json"


def read_cache(path: Path, request: dict[str, Any]) -> str | None:
    """The cached answer text for a request, or None if absent, unreadable or different."""
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record["request"] == request and isinstance(record["raw"], str):
            return record["raw"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("ignoring unreadable llm cache file %s (%s)", path, err)
        return None
    log.warning("ignoring llm cache file %s: it was written for another request", path)
    return None


def write_cache(path: Path, request: dict[str, Any], raw: str, usage: dict[str, int]) -> None:
    """Write one answer to the cache atomically (no API key is ever part of it)."""
    record = {"request": request, "raw": raw, "usage": usage}
    text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))  # a full disk keeps no part
