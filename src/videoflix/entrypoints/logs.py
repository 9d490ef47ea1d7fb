"""Logging: readable lines in a terminal by default, one JSON object per line with ``LOG_FORMAT=json``.

Every line carries the id of the request it belongs to and of the background job that wrote it (the context
variables of ``domain/context.py``), so one request can be followed through the access line, the emails it queued
and the jobs it rang.

Log lines cannot be forged (see docs/security.md (S25)): in both formats control characters in the message and in
every string field are escaped (a path with ``%0a`` stays on its line), long values are capped, and the one-time
tokens of activation and reset links are replaced by ``[redacted]`` wherever they would appear.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from videoflix.domain.context import job_id as current_job_id
from videoflix.domain.context import request_id as current_request_id

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
MESSAGE_LIMIT = 4000  # characters of one message; a client-controlled value is capped far below this where logged
FIELD_LIMIT = 1000  # characters of one string field of a structured line

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# The token of a one-time link, in an API path (access lines) or in a frontend link (emails): S25.
_TOKEN_IN_PATH = re.compile(r"(/api/(?:activate|password_confirm)/[^/\s]*/)[^/\s?#]+")
_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s#]+")
REDACTED = "[redacted]"


def _escape_one(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return {10: "\\n", 13: "\\r", 9: "\\t"}.get(code) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def escape(value: str) -> str:
    """Control characters (and Unicode line separators) as visible escapes: the value stays on one line."""
    return _CONTROL.sub(_escape_one, value)


def cap(value: str, limit: int) -> str:
    """At most ``limit`` characters; longer values end with how much was cut."""
    if len(value) <= limit:
        return value
    return f"{value[:limit]}...(+{len(value) - limit} characters)"


def redact(value: str) -> str:
    """One-time tokens of activation and reset paths and links replaced by ``[redacted]``."""
    if "/api/" not in value and "token=" not in value:  # the common case: nothing to look for
        return value
    return _TOKEN_IN_QUERY.sub(rf"\g<1>{REDACTED}", _TOKEN_IN_PATH.sub(rf"\g<1>{REDACTED}", value))


def clean(value: str, limit: int = FIELD_LIMIT) -> str:
    """What a logged string becomes: capped, escaped, redacted."""
    return redact(escape(cap(value, limit)))


class ContextFilter(logging.Filter):
    """Adds the request id and job id of the running request or job to every record that has none of its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id.get()
        if getattr(record, "job_id", None) is None:
            record.job_id = current_job_id.get()
        return True


def _message(record: logging.LogRecord) -> str:
    return clean(record.getMessage(), MESSAGE_LIMIT)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _message(record),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_") or (value is None and key in ("request_id", "job_id")):
                continue
            entry[key] = clean(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ConsoleFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = _message(record)
        line = super().formatMessage(record)
        request_id = getattr(record, "request_id", None)
        job_id = getattr(record, "job_id", None)
        if request_id:
            line += f" [{clean(str(request_id), 64)[:8]}]"
        if job_id:
            line += f" [job {clean(str(job_id), 80)}]"
        return line


def configure_logging(log_format: str = "console", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else ConsoleFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "aiosqlite", "asyncio", "saq", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level) if noisy != "saq" else root.level)
