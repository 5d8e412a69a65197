"""Structured logging (structlog): JSON lines or console, with the request id bound per request.

Nothing here logs headers or bodies; callers log named fields only, never secrets.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import stamina.instrumentation
import structlog


def resolve_log_format(fmt: str, stream: object = None) -> str:
    """``auto``: human-readable ``console`` lines on a terminal, ``json`` lines otherwise (a
    pipe, a file, a container's log collector). ``json`` and ``console`` stay as they are."""
    if fmt != "auto":
        return fmt
    target = stream if stream is not None else sys.stderr
    isatty = getattr(target, "isatty", None)
    return "console" if callable(isatty) and isatty() else "json"


# Libraries whose INFO lines stay off the log (see configure_logging).
QUIETED_LOGGERS = ("alembic", "sqlalchemy", "psycopg.pool")


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Route structlog and the standard library (uvicorn, celery, alembic) through one renderer.

    ``fmt``: ``json``, ``console`` or ``auto`` (see :func:`resolve_log_format`)."""
    fmt = resolve_log_format(fmt)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        # ExtraAdder: a standard-library logger's ``extra={...}`` fields become keys of the
        # line (connectors.http logs its retries that way), instead of being dropped.
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    global _access
    # The access line of every request, rendered by the same processors and renderer straight
    # to the same stream: through the standard library it cost 87 us per request, more than a
    # whole hot read (bench/api_read.py); this way about a fifth, and nothing below the level.
    _access = structlog.wrap_logger(
        _StderrLine(),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _access_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Alembic's plugin set-up and migration steps and SQLAlchemy's notices would bury the first
    # screen of `vsm serve` (the key and the curl commands), and psycopg's pool says three lines
    # per hot read on PostgreSQL (requested, given, returned); their warnings and errors show.
    for name in QUIETED_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # Every retry loop logs its own line with its fields (connectors.http: call, try, seconds,
    # status); stamina's line would repeat it without them, and its counter would land in the
    # default Prometheus registry, which /metrics does not serve.
    stamina.instrumentation.set_on_retry_hooks(())
    # uvicorn's access log would duplicate ours (and ours carries the request id).
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


ACCESS_LOGGER = "service.api.access"
_access: Any = None


def _access_logger_name(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    event["logger"] = ACCESS_LOGGER
    return event


def access_log() -> Any:
    """The logger of the per-request access line: the direct one ``configure_logging`` built,
    or, when the process did not configure logging (tests, an embedding app), the standard
    one, so the line goes wherever that process's logging goes."""
    return _access if _access is not None else structlog.get_logger(ACCESS_LOGGER)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler on the process's ``sys.stderr`` of the moment, like ``_StderrLine``:
    a stream bound at set-up would outlive a replaced ``sys.stderr`` (an embedding app's or a
    test's capture) and, once that one is closed, print a "Logging error" traceback instead."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class _StderrLine:
    """Writes a rendered line to the process's ``sys.stderr`` of the moment (where the root
    handler writes); a closed or broken stream loses the line, never the request."""

    def msg(self, message: str) -> None:
        try:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass

    debug = info = warning = error = critical = exception = msg
