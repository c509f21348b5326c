"""JSON logs to stdout: one object per line, with any `extra` fields and the trace id."""

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


REDACTED = "[redacted]"
# What must never reach a log line, whoever wrote it (issue 12): join codes, session secrets and
# API tokens (token_urlsafe: 32+ URL-safe characters; hex digests and UUIDs, bare or with a
# short prefix such as a room's "evr-", stay: they are identifiers, not secrets), bearer
# credentials and JWTs, e-mail addresses and phone numbers.
_SECRETS = re.compile(
    r"(?i:bearer\s+)\S+"
    r"|\beyJ[\w-]+\.[\w-]+\.[\w-]*"
    r"|(?<![\w-])(?!(?:[A-Za-z]{1,10}-)?[0-9a-f-]+(?![\w-]))[\w-]{32,}(?![\w-])"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|(?<![\w-])\+?\d(?:[ -]?\d){9,13}(?![\w-])"
)


def redact(text: str) -> str:
    """``text`` with codes, tokens and contact details replaced by ``[redacted]``."""
    return _SECRETS.sub(REDACTED, text)


def _redacted(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = _redacted(value)
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            # The ids as trace back-ends print them, so a log line leads to its trace.
            entry["trace_id"] = trace.format_trace_id(span.trace_id)
            entry["span_id"] = trace.format_span_id(span.span_id)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log duplicates our metrics and would log join codes in paths.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
