"""Logging: ``log.level`` and ``log.formatter`` (json, logstash or text) from the settings."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import msgspec

LEVELS = {
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, msg, the record's fields and static ones."""

    def __init__(self, static_fields: dict[str, str], *, logstash: bool = False) -> None:
        super().__init__()
        self.static_fields = static_fields
        self.logstash = logstash

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "@timestamp" if self.logstash else "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(self.static_fields)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return msgspec.json.encode(entry).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname.lower()
        base = f"{_iso(record.created)} {level:5} {record.name}: {record.getMessage()}"
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            base += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        if record.exc_info:
            base += "\n" + self.formatException(record.exc_info)
        return base


def _iso(created: float) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
        + f".{int(created % 1 * 1000):03d}Z"
    )


def configure_logging(level: str, formatter: str, fields: dict[str, str]) -> None:
    """The ``logging`` setup of a process. The access log does not use it: see
    api/access_log.py (built by bootstrap from the same settings)."""
    handler = logging.StreamHandler(sys.stderr)
    if formatter == "text":
        handler.setFormatter(TextFormatter())
    else:
        handler.setFormatter(JsonFormatter(fields, logstash=formatter == "logstash"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS.get(level, logging.INFO))
    for noisy in ("uvicorn.access", "granian.access"):
        logging.getLogger(noisy).disabled = True
