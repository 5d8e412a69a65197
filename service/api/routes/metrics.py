"""``GET /metrics``: the process's figures in the Prometheus text format, behind a bearer token."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from service.api.deps import runtime_of
from service.api.problems import ProblemError, responses
from service.metrics import CONTENT_TYPE

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Prometheus metrics of this process",
    response_class=Response,
    responses={
        **responses(401, 404),
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format 0.0.4"},
    },
)
async def metrics(request: Request) -> Response:
    """Request latency per route, import jobs, queue depth and age, webhook triggers, process
    memory (docs/service.md). Needs ``Authorization: Bearer <VSM_METRICS_TOKEN>``; without that
    setting the route does not exist (404)."""
    settings = runtime_of(request).settings
    if settings.metrics_token is None:
        raise ProblemError("not-found", "Metrics are off: set VSM_METRICS_TOKEN.")
    expected = f"Bearer {settings.metrics_token.get_secret_value()}".encode()
    sent = request.headers.get("authorization", "").encode()
    if not hmac.compare_digest(sent, expected):
        raise ProblemError(
            "unauthorized",
            "Send Authorization: Bearer <VSM_METRICS_TOKEN>.",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    registry = runtime_of(request).metrics
    # The job figures are read from the database: off the event loop.
    return Response(await run_in_threadpool(registry.render), media_type=CONTENT_TYPE)
