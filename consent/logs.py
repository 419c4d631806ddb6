"""Structured JSON logs, one object per line, with the request id of the request being served.

Only the message and a few fixed fields are written: never a header value, a
body or a personal value. Code logs ids and counts, and personal values travel
in redacting wrappers, so a stray `%s` shows `[REDACTED]`.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import traceback
from datetime import UTC, datetime

import msgspec

__all__ = ["SERVER_LOG_CONFIG", "JsonFormatter", "configure_logging", "request_id"]

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_encode = msgspec.json.encode


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id.get()
        if rid is not None:
            document["request_id"] = rid
        if record.exc_info and record.exc_info[0] is not None:
            # Type and frames only: an exception's message may quote the input that caused it.
            exc_type, _exc, tb = record.exc_info
            document["exception"] = exc_type.__name__
            document["trace"] = [f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_tb(tb)]
        return _encode(document).decode()


# For the server's own messages (granian's dictConfig): the same JSON lines on stderr.
SERVER_LOG_CONFIG: dict[str, object] = {
    "formatters": {"json": {"()": "consent.logs.JsonFormatter"}},
    "handlers": {"console": {"formatter": "json", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
    "loggers": {"_granian": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Servers' own access logs would print paths with ids and query strings; ours carries none.
    for noisy in ("granian.access", "uvicorn.access"):
        logging.getLogger(noisy).disabled = True
