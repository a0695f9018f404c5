"""One log format for every step: `<UTC ISO time> <step> <LEVEL> <message>`, or JSON lines.

Logs go to stderr so that stdout carries only what a caller parses (the training job's metric lines).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

_LOGGER_PREFIX = "steps."


class _TextFormatter(logging.Formatter):
    def __init__(self, step: str) -> None:
        super().__init__()
        self.step = step

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{stamp} {self.step} {record.levelname} {record.getMessage()}"


class _JsonFormatter(logging.Formatter):
    def __init__(self, step: str) -> None:
        super().__init__()
        self.step = step

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
        payload: dict[str, Any] = {
            "time": stamp.replace("+00:00", "Z"),
            "step": self.step,
            "level": record.levelname,
            "message": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            payload.update(extra)
        return json.dumps(payload, default=str)


def get_logger(step: str, log_format: str = "text", level: int = logging.INFO) -> logging.Logger:
    """The step's logger, writing one line per record to stderr in the chosen format."""
    logger = logging.getLogger(_LOGGER_PREFIX + step)
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter(step) if log_format == "json" else _TextFormatter(step))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger


class StepTimer:
    """Collects named timings (seconds) for metrics.json while logging each block as it ends."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.timings: dict[str, float] = {}
        self._started = time.perf_counter()

    @contextmanager
    def block(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield  # a block that raises is not timed: its error is what gets reported
        elapsed = time.perf_counter() - start
        self.timings[name] = round(self.timings.get(name, 0.0) + elapsed, 4)
        self.logger.info("%s took %.3fs", name, elapsed)

    def total(self) -> float:
        return round(time.perf_counter() - self._started, 4)

    def as_metrics(self) -> dict[str, float]:
        return {**self.timings, "total": self.total()}


def log_input_size(logger: logging.Logger, name: str, frame: Any, source: Any = None) -> None:
    """Log a table's row and column counts (and where it came from)."""
    rows = len(frame)
    columns = len(getattr(frame, "columns", []))
    where = f" from {source}" if source is not None else ""
    logger.info("input %s: %d rows x %d columns%s", name, rows, columns, where)
