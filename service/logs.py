"""Structured logging (structlog): JSON lines or console, with the request id bound per request.

Nothing here logs headers or bodies; callers log named fields only, never secrets.
"""

from __future__ import annotations

import logging
import sys

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
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Alembic's plugin set-up and migration steps and SQLAlchemy's notices would bury the first
    # screen of `vsm serve` (the key and the curl commands); their warnings and errors still show.
    for name in ("alembic", "sqlalchemy"):
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
