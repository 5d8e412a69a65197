"""What the Miro and Mural live routes share: connection schemas, the live sync of a provider
from ``app.state``, a workspace's connection or 404, and provider errors as problems."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request
from pydantic import BaseModel, Field

from connectors.errors import AuthError, ProviderError, RateLimitedError
from service.api.deps import SessionDep
from service.api.problems import ProblemError
from service.db.tables import Connection
from service.usecases.connections import connection_in_workspace
from service.usecases.live_sync import LiveSync


class ConnectionPublic(BaseModel):
    id: int
    provider: str
    account_id: str
    account_name: str
    user_id: str
    user_name: str
    scopes: list[str]
    status: str = Field(description="`active` or `needs_reauth`")
    status_reason: str | None
    expires_at: datetime | None = Field(description="Access token expiry; null = non-expiring.")
    created_at: datetime
    updated_at: datetime


class AuthorizePublic(BaseModel):
    authorize_url: str
    expires_in: int = Field(description="Seconds the authorization request stays valid.")


def live_for(request: Request, provider: str) -> LiveSync:
    """The live sync of ``provider`` (``app.state.<provider>_live``, set by
    :func:`service.api.live.install_live`); a ``provider-not-configured`` problem with the
    reason when the provider is off."""
    live: LiveSync | None = getattr(request.app.state, f"{provider}_live", None)
    if live is None:
        reason = getattr(
            request.app.state, f"{provider}_disabled_reason", f"{provider} is not configured"
        )
        raise ProblemError("provider-not-configured", reason)
    return live


def connection_or_404(session: SessionDep, workspace_id: int, connection_id: int) -> Connection:
    row = connection_in_workspace(session, workspace_id, connection_id)
    if row is None:
        raise ProblemError("not-found", f"No connection {connection_id} in this workspace.")
    return row


def provider_problem(exc: ProviderError) -> ProblemError:
    """The problem a route answers for a provider failure (``Retry-After`` on rate limits)."""
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
