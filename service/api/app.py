"""FastAPI application factory: the composition root of the REST API."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException

from connectors.errors import ProviderError
from service.api import docs_pages, openapi
from service.api.deps import MULTIPART_OVERHEAD, ids_in_range
from service.api.hot import HotReads, HotTrigger, RenderCache
from service.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from service.api.problems import (
    MEDIA_TYPE,
    PROBLEM_TYPES,
    ProblemError,
    ProblemType,
    problem_body,
    provider_problem,
    slug_for_status,
)
from service.api.ratelimit import RateLimiter
from service.api.routes import (
    boards,
    classify,
    connections,
    health,
    imports,
    portfolio,
    render,
    spreadsheets,
    streams,
    webhooks,
)
from service.api.routes import metrics as metrics_route
from service.bootstrap import Runtime, build
from service.db.loop_reads import LoopReads
from service.db.migrate import upgrade_database
from service.dispatch import Dispatcher
from service.logs import configure_logging
from service.settings import Settings
from service.usecases.connections import HttpFactory
from service.usecases.keys import KeyCache
from service.web import portfolio_pages as web_portfolio
from service.web import routes as web_routes

API_VERSION = "1.0.0"
# Retry-After (seconds) when the database is unreachable: PostgreSQL restarts and failovers take
# seconds, and a sooner retry would only add load.
DATABASE_RETRY_AFTER_S = 5

log = structlog.get_logger(__name__)
_HTTP_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"})


def create_app(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    engine: Engine | None = None,
    dispatcher: Dispatcher | None = None,
    migrate: bool | None = None,
    configure_logs: bool = True,
    live_http_factory: HttpFactory | None = None,
    live_tick_s: float | None = None,
    key_cache: KeyCache | None = None,
) -> FastAPI:
    """The API for ``settings``.

    ``runtime`` is the process's :class:`service.bootstrap.Runtime`; without one it is built
    here from ``settings`` with ``engine``, ``dispatcher``, ``live_http_factory`` and
    ``live_tick_s`` passed on (tests, benchmarks). ``migrate`` defaults to "on the embedded
    default" (no broker): a laptop run needs no extra step, while deployments with a broker
    migrate once with ``vsm db upgrade``. ``key_cache`` replaces the API key cache (tests
    inject one with their own clock).
    """
    if configure_logs:
        configure_logging(settings.log_level, settings.log_format)
    if runtime is None:
        runtime = build(
            settings,
            engine=engine,
            dispatcher=dispatcher,
            http_factory=live_http_factory,
            poll_tick_s=live_tick_s,
        )
    should_migrate = settings.embedded_worker if migrate is None else migrate
    built = runtime
    loop_reads = LoopReads(runtime.engine)
    stream_reader = streams.StreamReader(runtime.engine, loop_reads)
    render_cache = RenderCache()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if should_migrate:
            upgrade_database(built.engine, upload_dir=settings.upload_path)
        built.start()
        for provider in built.providers.values():
            # An unconfigured provider is the normal laptop case: a hint at debug level only;
            # its routes answer with the reason when someone calls them.
            note = log.info if provider.live is not None else log.debug
            note(
                "live_provider",
                provider=provider.name,
                enabled=provider.live is not None,
                reason=provider.disabled_reason or None,
            )
        log.info("api_started", embedded_worker=settings.embedded_worker)
        try:
            yield
        finally:
            await asyncio.to_thread(built.stop)
            await loop_reads.close()
            log.info("api_stopped")

    app = FastAPI(
        title="Valuestream API",
        version=API_VERSION,
        summary="Digitized value streams from Miro and Mural workshop boards.",
        description=(
            "Every `/v1` route needs `Authorization: Bearer <API key>`. Errors are "
            "`application/problem+json` (RFC 9457); lists are paginated with `limit` "
            f"(default {settings.page_size_default}, at most {settings.page_size_max}) and "
            "`cursor`."
        ),
        docs_url=None,  # service.api.docs_pages serves /docs and /redoc without a CDN
        openapi_url="/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(ids_in_range)],
        generate_unique_id_function=openapi.operation_id,
    )
    app.state.runtime = runtime
    app.state.key_cache = key_cache or KeyCache()
    app.state.stream_reader = stream_reader
    app.state.render_cache = render_cache
    app.state.metrics = runtime.metrics
    app.state.rate_limiter = rate_limiter(settings)
    # Routes are matched in this order. The signed trigger comes first: senders call it at
    # high rates, and walking the other routers before it costs more than verifying its
    # signature: matching POST /v1/hooks/boards/17 took 30 us with the trigger's router first
    # and 640 us with it last (20x; FastAPI 0.165, 13 routers, starlette Route.matches loop).
    # The hot reads next, for the same reason (bench/api_read.py).
    routers = (
        webhooks.hooks_router,
        streams.router,
        boards.router,
        imports.router,
        classify.router,
        render.router,
        portfolio.router,
        connections.router,
        webhooks.router,
        spreadsheets.router,
    )
    for router in routers:
        app.include_router(router, prefix="/v1")
    app.include_router(health.router)
    app.include_router(metrics_route.router)
    app.include_router(docs_pages.router)
    app.include_router(web_routes.router)
    app.include_router(web_portfolio.pages)
    # Outermost last: request ids wrap everything, so even a refused body gets one. The hot
    # reads' common case and the signed trigger are answered innermost, before FastAPI's
    # routing (service.api.hot).
    app.add_middleware(
        HotReads,
        runtime=runtime,
        state=app.state,
        loop_reads=loop_reads,
        stream_reader=stream_reader,
        cache=render_cache,
    )
    app.add_middleware(HotTrigger, runtime=runtime, loop_reads=loop_reads)
    # Every body is bounded while it arrives; POST /v1/imports streams its upload to storage
    # and has a limit of its own (VSM_MAX_UPLOAD_BYTES), the others are read into memory.
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_dump_bytes + MULTIPART_OVERHEAD,
        per_route={("POST", "/v1/imports"): settings.max_upload_bytes + MULTIPART_OVERHEAD},
    )
    app.add_middleware(RequestIdMiddleware, metrics=runtime.metrics)
    _install_problem_handlers(app)
    openapi.install(app)
    return app


def rate_limiter(settings: Settings) -> RateLimiter | None:
    """The per-key limiter of ``VSM_RATE_LIMIT``: counted in the broker's Redis when there is
    one (shared by every API process), else in this process."""
    if settings.rate_limit is None:
        return None
    broker = settings.broker_url or ""
    storage = broker if broker.startswith(("redis://", "rediss://")) else "memory://"
    return RateLimiter(settings.rate_limit, storage)


def _problem_response(
    request: Request,
    kind: ProblemType,
    detail: str | None,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    background: BackgroundTask | None = None,
) -> JSONResponse:
    body = problem_body(
        kind,
        detail,
        instance=request.url.path,
        request_id=getattr(request.state, "request_id", None),
        errors=errors,
    )
    return JSONResponse(
        body, status_code=kind.status, media_type=MEDIA_TYPE, headers=headers, background=background
    )


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def _install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def on_problem(request: Request, exc: ProblemError) -> JSONResponse:
        return _problem_response(
            request,
            exc.kind,
            exc.detail,
            errors=exc.errors,
            headers=exc.headers,
            background=exc.background,
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def on_database_down(request: Request, exc: Exception) -> JSONResponse:
        # The database is unreachable (or, on SQLite, locked past the busy timeout): nothing of
        # the request was committed, so the client may send it again.
        log.warning("database_unavailable", path=request.url.path, error=type(exc).__name__)
        return _problem_response(
            request,
            PROBLEM_TYPES["not-ready"],
            "The database is unavailable; nothing was stored. Try again shortly.",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )

    @app.exception_handler(ProviderError)
    async def on_provider(request: Request, exc: ProviderError) -> JSONResponse:
        problem = provider_problem(exc)
        return _problem_response(request, problem.kind, problem.detail, headers=problem.headers)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field(e.get("loc", ())), "message": str(e.get("msg", ""))}
            for e in exc.errors()[:50]
        ]
        is_json_error = any(e.get("type") == "json_invalid" for e in exc.errors())
        if is_json_error:
            return _problem_response(
                request, PROBLEM_TYPES["invalid-json"], "The body is not valid JSON."
            )
        slug = (
            "invalid-rules"
            if request.url.path.endswith("/rules")
            and any(e["field"].startswith("body") for e in errors)
            else "validation-error"
        )
        fields = ", ".join(e["field"] for e in errors[:5])
        return _problem_response(request, PROBLEM_TYPES[slug], f"Invalid: {fields}.", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = PROBLEM_TYPES[slug_for_status(exc.status_code)]
        if kind.status != exc.status_code:
            kind = ProblemType(kind.slug, exc.status_code, kind.title, kind.meaning)
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route matching the path only; a path
            # served by several routes (GET and PUT of /rules) has all of theirs.
            headers["Allow"] = ", ".join(_methods_of(request))
        return _problem_response(request, kind, detail, headers=headers or None)

    def _methods_of(request: Request) -> list[str]:
        # From the OpenAPI document (built once, cached by FastAPI): the routers of this
        # FastAPI version do not expose their routes for matching.
        methods: set[str] = set()
        for template, operations in app.openapi().get("paths", {}).items():
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            if re.fullmatch(pattern, request.url.path):
                methods |= {m.upper() for m in operations if m.upper() in _HTTP_METHODS}
        return sorted(methods)
