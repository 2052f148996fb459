"""Structured logs that carry ids only.

An allowlist, not a redaction: the last processor drops every key that is not known to be
safe. A tip's text, a phone number, a receipt or an address cannot reach a log line by
accident, because no field for them exists.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

SAFE_KEYS = frozenset(
    {
        "event",
        "level",
        "timestamp",
        "logger",
        "tip_id",
        "tip_ids",
        "job_id",
        "channel",
        "urgency",
        "rule_ids",
        "status",
        "duration_ms",
        "request_id",
        "user_id",
        "count",
        "role",
        "path",
        "method",
        "status_code",
        "rules_version",
        "attempt",
        "delay_s",
    }
)


def keep_safe_keys(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Drop every key that is not on the allowlist (exception text included)."""
    for key in list(event_dict):
        if key not in SAFE_KEYS:
            del event_dict[key]
    return event_dict


PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    keep_safe_keys,
]


def configure(level: str = "info") -> None:
    """Route structlog and the stdlib through one JSON renderer on stderr."""
    structlog.configure(
        processors=[*PROCESSORS, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # Whatever sys.stderr is when a line is written (tests swap it per test).
        logger_factory=lambda *_args: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    root.handlers[:] = [_StdlibToStructlog()]
    root.setLevel(level.upper())
    # uvicorn's access log names the client: it stays off. arq's per-job lines would
    # only repeat their format strings here; our jobs log their own ids.
    logging.getLogger("arq.worker").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("uvicorn.access").propagate = False


class _StdlibToStructlog(logging.Handler):
    """Library log records pass through the same allowlist: only their event name survives."""

    def emit(self, record: logging.LogRecord) -> None:
        logger = structlog.get_logger(record.name)
        # Keep the format string, never its arguments nor the traceback: arguments and
        # exception text may hold anything a library was handed.
        template = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
        logger.log(record.levelno, template[:200], logger=record.name)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
