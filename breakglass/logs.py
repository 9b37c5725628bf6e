"""Structured logging: JSON lines in production, readable console output on a terminal.

Every part of breakglass logs through structlog with context bound per request
(``bind_contextvars``), so one canonical line per request carries uid, user, resource,
namespace, name, decision, capture id and duration.  Nothing here ever receives an object body:
callers pass identifiers and redacted summaries only.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
_LEVELS["error"] = logging.ERROR


def configure(
    *, level: str = "info", fmt: str = "json", stream: TextIO | None = None, cache: bool = True
) -> None:
    """Set up structlog (and route stdlib logging through it) for the whole process."""
    out = stream if stream is not None else sys.stdout
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())
    else:
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=cache,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("breakglass").setLevel(_LEVELS.get(level, logging.INFO))


def get(name: str) -> Any:
    """A structlog logger named after the calling module."""
    return structlog.get_logger(name)
