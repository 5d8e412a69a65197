"""Request ids (``X-Request-ID`` in and out, bound into every log line) and one access log line."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.problems import MEDIA_TYPE, PROBLEM_TYPES, problem_body
from service.logs import access_log
from service.metrics import Metrics

REQUEST_ID_HEADER = "x-request-id"
# A client-sent id is kept only when it is short and plain, so it cannot forge log content.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

log = structlog.get_logger("service.api.access")


class RequestIdMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware: it would buffer streaming bodies)."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        # 32 random hex digits, as uuid4().hex gives, without building a UUID (uuid4 took 2 %
        # of a hot read's CPU, bench/api_read.py).
        request_id = incoming if _VALID_ID.match(incoming) else os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # A bug: answer with the 500 problem ourselves, so it carries the request id too.
            if response_started:
                raise
            log.exception("unhandled_error", path=scope.get("path"))
            body = json.dumps(
                problem_body(
                    PROBLEM_TYPES["internal-error"],
                    "An unexpected error occurred.",
                    instance=scope.get("path"),
                    request_id=request_id,
                )
            ).encode()
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", MEDIA_TYPE.encode()),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send_with_id({"type": "http.response.body", "body": body})
        finally:
            elapsed = time.perf_counter() - started
            access_log().info(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            if self.metrics is not None:
                self.metrics.requests.labels(
                    scope.get("method"), _template(scope), str(status)
                ).observe(elapsed)
            structlog.contextvars.unbind_contextvars("request_id")


def _template(scope: Scope) -> str:
    """The matched route's path template, never the path: ids and share tokens stay out of
    metric labels. FastAPI keeps the full template of a route inside included routers in its
    scope entry (``route.path`` lacks the including routers' prefixes)."""
    context = scope.get("fastapi", {}).get("effective_route_context")
    template = getattr(context, "path_format", None) or getattr(scope.get("route"), "path", None)
    return template if isinstance(template, str) else "unmatched"


class _BodyTooLarge(HTTPException):
    """Raised from ``receive``: an HTTP exception, so frameworks reading the body let it through
    to the problem handlers instead of turning it into "error parsing the body"."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The body is larger than the limit of {max_bytes} bytes.")


class BodyLimitMiddleware:
    """Refuse any request body over ``max_bytes`` with a 413 problem, counted while it arrives
    (routes with a tighter limit of their own check it first)."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        per_route: Mapping[tuple[str, str], int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # (method, path) -> the limit of a route that streams its body instead of holding it
        self.per_route = dict(per_route or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_route.get((scope.get("method", ""), scope.get("path", "")), self.max_bytes)
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._refuse(scope, send, limit)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, send, limit)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        request_id = scope.get("state", {}).get("request_id")
        body = json.dumps(
            problem_body(
                PROBLEM_TYPES["payload-too-large"],
                f"The body is larger than the limit of {limit} bytes.",
                instance=scope.get("path"),
                request_id=request_id,
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
