"""Logging set-up: JSON lines for unattended boxes, plain text for people at a terminal.

Example:
    >>> configure_logging(json_lines=True, level=logging.INFO)  # doctest: +SKIP
    >>> logging.getLogger("edge.capture").warning("camera %s lost", "north")  # doctest: +SKIP
    {"ts": "2026-11-23T17:01:02.345Z", "level": "WARNING", "logger": "edge.capture", "process": "simpang.capture", "msg": "camera north lost"}
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import sys
import time
from typing import Any, TextIO

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields passed with ``extra={...}`` are kept."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "process": multiprocessing.current_process().name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure_logging(json_lines: bool, level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Replace the root handlers with one that writes to ``stream`` (stderr by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
