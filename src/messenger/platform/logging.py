"""Structured logs; every line of a request carries its `request_id`, in every service.

Lines from libraries that use the standard `logging` module (uvicorn, alembic, grpc)
go through the same processors, so the whole output is one JSON object per line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# websockets logs every header and frame at debug level: tokens and message text.
_QUIET = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "aiosqlite": logging.WARNING,
    "websockets": logging.INFO,
}
_SECRETS = re.compile(
    # a token in a URL, whatever the case or percent-encoding of its name ...
    r"((?:access_|refresh_)?tok(?:e|%65)(?:n|%6e)=)[^&\s\"'#]+"
    # ... an Authorization header's credentials ...
    r"|(bearer\s+)\S+"
    # ... and anything shaped like a JWT.
    r"|()eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",
    re.IGNORECASE,
)


def _redacted(match: re.Match[str]) -> str:
    return (match.group(1) or match.group(2) or "") + "[redacted]"


_MARKS = ("tok", "bearer", "eyj")
"""What every match of `_SECRETS` holds, lowercased: looking for them first is several
times cheaper than the search, and almost no log value holds one."""


def redact_tokens(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Tokens never reach a log: uvicorn writes each WebSocket's request line, query
    included, when it opens (browsers put the access token there), and a library may
    log a header."""
    for key, value in event.items():
        if isinstance(value, str):
            lowered = value.lower()
            if any(mark in lowered for mark in _MARKS):
                event[key] = _SECRETS.sub(_redacted, value)
    return event


def configure_logging(service: str, level: str = "info", fmt: str = "json") -> None:
    threshold = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_tokens,
    ]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(threshold)
    for name, quiet in _QUIET.items():
        logging.getLogger(name).setLevel(max(quiet, threshold))
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def bind_request_id(request_id: str | None) -> None:
    structlog.contextvars.bind_contextvars(request_id=request_id)


def current_request_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("request_id")
    return value if isinstance(value, str) else None


log = structlog.get_logger()
