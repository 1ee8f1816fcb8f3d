"""Logging for workflow scripts: everything (tqdm included) goes to the rule's log file."""

from __future__ import annotations

import logging
import sys


def to_file(path: str, level: int = logging.INFO) -> None:
    """Send logging, warnings and stderr (progress bars) of this process to ``path``."""
    stream = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
    sys.stderr = stream
    logging.basicConfig(level=level, stream=stream, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
