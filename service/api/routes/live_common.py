"""What the Miro and Mural live routes share: connection schemas, a provider's registration and
live sync from the runtime, a workspace's connection or 404, provider errors as problems, and
the two halves of the OAuth dance (authorize answer, callback) around each provider's calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from connectors.errors import AuthError
from service.api.deps import SessionDep, runtime_of
from service.api.problems import ProblemError
from service.api.schemas import _Public
from service.db.engine import begin_write
from service.db.tables import Connection
from service.providers import Provider
from service.usecases.connections import (
    StateError,
    connection_in_workspace,
    connection_summary,
    provider_label,
)
from service.usecases.live_sync import LiveSync

T = TypeVar("T")

# The OAuth callback's query (bounded: the provider's redirect is as untrusted as any request).
CodeQuery = Annotated[str | None, Query(max_length=2000)]
StateQuery = Annotated[str | None, Query(max_length=300)]
ErrorQuery = Annotated[str | None, Query(max_length=200)]


class ConnectionPublic(_Public):
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


def provider_for(request: Request, name: str) -> Provider:
    """The registration of provider ``name`` in this process (404 for a name it does not know)."""
    provider = runtime_of(request).providers.get(name)
    if provider is None:
        raise ProblemError("not-found", f"No provider {name[:50]!r}.")
    return provider


def live_for(request: Request, name: str) -> LiveSync:
    """The live sync of provider ``name``; a ``provider-not-configured`` problem with the
    reason when the provider is off."""
    provider = provider_for(request, name)
    if provider.live is None:
        raise ProblemError("provider-not-configured", provider.disabled_reason)
    return provider.live


def connection_or_404(session: SessionDep, workspace_id: int, connection_id: int) -> Connection:
    row = connection_in_workspace(session, workspace_id, connection_id)
    if row is None:
        raise ProblemError("not-found", f"No connection {connection_id} in this workspace.")
    return row


def provider_call(call: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``call()`` (a provider read for a browsing route); its failures propagate as
    ``ProviderError``, which the app's one handler answers as a problem."""
    return asyncio.run(call())


def authorize_answer(
    request: Request, session: SessionDep, begin: Callable[[], str]
) -> AuthorizePublic | RedirectResponse:
    """Commit the state ``begin`` stores and answer with the authorization URL it returns: a
    302 to it for a browser asking for HTML, else JSON."""
    begin_write(session)
    url = begin()
    session.commit()
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(url, status_code=302)
    return AuthorizePublic(authorize_url=url, expires_in=600)


def callback_answer(
    session: SessionDep,
    provider: str,
    error: str | None,
    complete: Callable[[], Connection],
    request: Request | None = None,
) -> ConnectionPublic | Response:
    """The OAuth callback: ``complete`` consumes the state and stores the connection, committed
    here; a refusal (``error``), a bad state or a provider failure becomes a problem and stores
    nothing. A browser (``Accept: text/html``) gets a "connected" page linking the board
    picker; a client asking for JSON gets the connection."""
    if error is not None:
        session.rollback()
        raise ProblemError(
            "oauth-refused",
            f"{provider_label(provider)} reports that the authorization was refused.",
        )
    begin_write(session)  # the state is read, then used up and the connection stored
    try:
        row = complete()
    except StateError as exc:
        session.rollback()
        raise ProblemError("invalid-oauth-state", str(exc)) from None
    except AuthError as exc:
        session.rollback()
        raise ProblemError("oauth-refused", str(exc)) from None
    session.commit()
    connection = ConnectionPublic(**connection_summary(row))
    if request is not None and wants_html(request):
        return connected_page(connection, provider_label(provider))
    return connection


def wants_html(request: Request) -> bool:
    """True for a browser: it lists ``text/html`` before (or without) ``application/json``."""
    accept = request.headers.get("accept", "").lower()
    html, json = accept.find("text/html"), accept.find("application/json")
    return html >= 0 and (json < 0 or html < json)


def connected_page(connection: ConnectionPublic, label: str) -> Response:
    from service.web.routes import page

    return page(
        "connected.html",
        signed_in=None,
        label=label,
        connection=connection,
        picker=f"/v1/connections/{connection.id}/remote-boards",
    )
