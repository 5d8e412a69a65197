"""RFC 9457 problem details: the one error format of the API, with a stable ``type`` per kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from connectors.errors import AuthError, ProviderError, RateLimitedError

PROBLEM_BASE = "https://valuestream.dev/problems/"
MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True, slots=True)
class ProblemType:
    slug: str
    status: int
    title: str
    meaning: str

    @property
    def uri(self) -> str:
        return PROBLEM_BASE + self.slug


# The documented list (docs/service.md renders the same table). Slugs never change.
PROBLEM_TYPES: dict[str, ProblemType] = {
    p.slug: p
    for p in (
        ProblemType("invalid-json", 400, "Body is not valid JSON", "The body could not be parsed."),
        ProblemType(
            "invalid-cursor", 400, "Invalid cursor", "The `cursor` did not come from this API."
        ),
        ProblemType(
            "unauthorized",
            401,
            "Authentication required",
            "No `Authorization: Bearer <key>` header, or the key is unknown or revoked.",
        ),
        ProblemType(
            "not-found",
            404,
            "Not found",
            "No such route or object in your workspace (other workspaces' objects look the same).",
        ),
        ProblemType(
            "method-not-allowed", 405, "Method not allowed", "The route exists, the method not."
        ),
        ProblemType("conflict", 409, "Conflict", "The object's state does not allow this now."),
        ProblemType(
            "link-expired",
            410,
            "Link expired",
            "The share link is genuine but past its expiry; ask its owner for a new one.",
        ),
        ProblemType(
            "payload-too-large",
            413,
            "Payload too large",
            "The request body is larger than the limit (`VSM_MAX_DUMP_BYTES`).",
        ),
        ProblemType(
            "unsupported-media-type",
            415,
            "Unsupported media type",
            "Send `application/json` or `multipart/form-data` with a `file` part.",
        ),
        ProblemType(
            "validation-error",
            422,
            "Invalid request",
            "A parameter or body field is invalid; `errors` names each field.",
        ),
        ProblemType(
            "invalid-dump",
            422,
            "Not a Miro or Mural dump",
            "The JSON is not a board dump the importer understands.",
        ),
        ProblemType(
            "invalid-rules",
            422,
            "Invalid rules",
            "The rules file failed validation; `errors` names each bad field.",
        ),
        ProblemType(
            "too-many-requests",
            429,
            "Too many requests",
            "The API key passed its rate limit (`VSM_RATE_LIMIT`), or the workspace has "
            "`VSM_MAX_ACTIVE_IMPORTS` imports queued or running; wait `Retry-After` seconds.",
        ),
        ProblemType(
            "idempotency-key-reused",
            422,
            "Idempotency key reused",
            "The `Idempotency-Key` came before with a different body; use a new key.",
        ),
        ProblemType(
            "not-ready",
            503,
            "Not ready",
            "The database, the job broker or the upload folder cannot serve.",
        ),
        ProblemType(
            "invalid-oauth-state",
            400,
            "Invalid authorization state",
            "The OAuth `state` is missing, forged, already used or expired: start the connection "
            "again. Nothing was stored.",
        ),
        ProblemType(
            "oauth-refused",
            400,
            "Authorization refused",
            "The provider refused the authorization (denied by the user, or a bad or used code).",
        ),
        ProblemType(
            "connection-needs-reauth",
            409,
            "Connection needs re-authorization",
            "The provider refused this connection's tokens; connect the account again.",
        ),
        ProblemType(
            "provider-forbidden",
            403,
            "Provider refused access",
            "The connected account may not read this object at the provider.",
        ),
        ProblemType(
            "provider-unavailable",
            502,
            "Provider unavailable",
            "The provider failed, timed out or rate-limited us; try again (see `Retry-After`).",
        ),
        ProblemType(
            "provider-not-configured",
            503,
            "Provider not configured",
            "The operator has not set the provider's OAuth app (`VSM_MIRO__*`, `VSM_MURAL__*`) or "
            "`VSM_ENCRYPTION_KEYS`.",
        ),
        ProblemType(
            "internal-error", 500, "Internal error", "A bug; the request id helps find it."
        ),
    )
}

_BY_STATUS = {
    404: "not-found",
    405: "method-not-allowed",
    401: "unauthorized",
    413: "payload-too-large",
    415: "unsupported-media-type",
    409: "conflict",
    400: "invalid-json",
    503: "not-ready",
    429: "too-many-requests",
}


class FieldError(BaseModel):
    field: str = Field(description="Where: `body.name`, `query.limit`, `path.board_id`, ...")
    message: str


class Problem(BaseModel):
    """An error response (``application/problem+json``, RFC 9457)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=[PROBLEM_BASE + "not-found"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raise from a route to answer with a problem of kind ``slug``."""

    def __init__(
        self,
        slug: str,
        detail: str | None = None,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or slug)
        self.kind = PROBLEM_TYPES[slug]
        self.detail = detail
        self.errors = errors
        self.headers = headers
        # Work to do after the answer was sent (``starlette.background.BackgroundTask``).
        self.background: Any = None


def slug_for_status(status: int) -> str:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return "internal-error" if status >= 500 else "validation-error"


def problem_body(
    kind: ProblemType,
    detail: str | None,
    *,
    instance: str | None = None,
    request_id: str | None = None,
    errors: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind.uri, "title": kind.title, "status": kind.status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if request_id:
        body["request_id"] = request_id
    if errors:
        body["errors"] = errors
    return body


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting the problem answers of a route.

    A route that takes an API key (it lists 401) may also answer 429 (the key's rate limit)
    and 503 (database unreachable): both are added, so every status a route really returns is
    documented (the contract test checks it)."""
    if 401 in statuses:
        statuses = (*statuses, *(s for s in (429, 503) if s not in statuses))
    return {
        status: {"model": Problem, "content": {MEDIA_TYPE: {}}, "description": _describe(status)}
        for status in statuses
    }


def _describe(status: int) -> str:
    kinds = [p for p in PROBLEM_TYPES.values() if p.status == status]
    return "; ".join(f"`{p.slug}`: {p.meaning}" for p in kinds) or "Problem"


def provider_problem(exc: ProviderError) -> ProblemError:
    """The problem answering a provider failure (``Retry-After`` on rate limits); the app's one
    ``ProviderError`` handler uses it for every route."""
    if isinstance(exc, AuthError):
        return ProblemError("connection-needs-reauth", str(exc))
    if isinstance(exc, RateLimitedError):
        retry = str(max(1, round(exc.retry_after)))
        return ProblemError("provider-unavailable", str(exc), headers={"Retry-After": retry})
    if exc.status == 403:
        return ProblemError("provider-forbidden", str(exc))
    if exc.status == 404:
        return ProblemError("not-found", str(exc))
    return ProblemError("provider-unavailable", str(exc))
