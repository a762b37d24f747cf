"""Logging setup for the smartflow process: one line per record on stderr."""

from __future__ import annotations

import logging
import sys

from store.engine import LIBRARY_LOGGERS

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str = "INFO") -> None:
    """Configure the root logger once; an unknown level name falls back to INFO."""
    resolved = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    root = logging.getLogger()
    root.setLevel(resolved)
    if not any(getattr(h, "_smartflow", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler._smartflow = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    # The database libraries narrate every statement / migration step at INFO; operators want our lines.
    for noisy in LIBRARY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(resolved, logging.WARNING))
