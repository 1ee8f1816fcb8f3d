"""When an LLM request is worth retrying, and how long the server asks to wait."""

from __future__ import annotations

from typing import Any

RETRYABLE_STATUS = frozenset({408, 409, 429})


def retryable(status: int) -> bool:
    """Whether an HTTP status is worth retrying: 408, 409, 429 and 5xx."""
    return status in RETRYABLE_STATUS or status >= 500


def retry_after(headers: Any) -> float | None:
    """Seconds from a Retry-After-ms or Retry-After header, if present and numeric."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            return float(headers.get(name)) / scale
        except (TypeError, ValueError):
            continue
    return None
