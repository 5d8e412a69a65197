"""The provider seam: what a board provider implements once, in ``connectors/<name>/provider.py``.

A :class:`BoardProvider` is the OAuth app and the REST API of one provider behind one protocol:
authorize URL, code exchange (with the account it connected), refresh, revoke, fetch a board
dump, the cheap change marker and browsing the account's boards. A :class:`Registration` names
it for the rest of the service (its name, its jobs' resource, how to build it, its ``vsm dump``
command); ``service/providers.py`` lists the registrations, and routes, use cases, jobs and the
CLI are parameterised by the provider's name.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from connectors.http import Clock, RateBudget, RetryPolicy, TokenProvider
from connectors.oauth import OAuthApp

Json = dict[str, Any]
BudgetFactory = Callable[[str, int], Callable[[str], RateBudget]]
"""``budgets(kind, ttl_s)`` -> ``budget_for(identity)``: rate budgets kept under ``kind`` (in
Redis at scale, else per process), one per identity."""


class TokenPair(Protocol):
    """What is stored of a provider's token answer."""

    @property
    def access_token(self) -> str: ...
    @property
    def refresh_token(self) -> str | None: ...
    @property
    def expires_at(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Identity:
    """Whose account a code exchange connected (texts as the provider gave them)."""

    account_id: str
    account_name: str
    user_id: str
    user_name: str
    scopes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Grant:
    """A code exchange's tokens and the account they belong to."""

    tokens: TokenPair
    identity: Identity


@dataclass(frozen=True, slots=True)
class Access:
    """Whose calls these are: the stored connection's token source and the ids its rate
    budgets are kept under (``user_id`` empty while unknown)."""

    tokens: TokenProvider
    connection_id: int
    user_id: str = ""


@dataclass(frozen=True, slots=True)
class RemoteItem:
    """One entry of a browsing page: a board (``kind="board"``, importable) or a container
    to open (a Mural ``workspace`` or ``room``)."""

    kind: str
    id: str
    name: str
    description: str | None = None
    modified_at: str | None = None
    view_link: str | None = None
    workspace_id: str | None = None
    room_id: str | None = None


@dataclass(frozen=True, slots=True)
class Browse:
    """What to list: ``kind`` (None: the provider's first), its container, a search text,
    the page size and the position a previous page handed back (opaque to the caller)."""

    kind: str | None = None
    workspace_id: str | None = None
    room_id: str | None = None
    query: str | None = None
    limit: int = 50
    position: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RemotePage:
    """One browsing page; ``next_position`` (JSON-able) asks for the next, None on the last."""

    items: list[RemoteItem]
    limit: int
    next_position: dict[str, Any] | None


class BoardProvider(Protocol):
    """One provider's OAuth app and REST API (see the module docstring).

    ``pkce``: the authorization carries an S256 challenge and the exchange its verifier.
    :meth:`revoke` is called only for providers registered ``revocable``. Calls raise the
    error tree of :mod:`connectors.errors`; :meth:`browse` and :meth:`check_external_id` raise
    ``ValueError`` for a request the provider cannot answer.
    """

    @property
    def name(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def pkce(self) -> bool: ...
    @property
    def browse_kinds(self) -> tuple[str, ...]: ...

    def authorize_url(self, state: str, code_verifier: str | None) -> str: ...

    async def exchange_code(
        self, http: httpx.AsyncClient, code: str, code_verifier: str | None
    ) -> Grant: ...

    async def refresh(self, http: httpx.AsyncClient, refresh_token: str) -> TokenPair: ...

    async def revoke(self, http: httpx.AsyncClient, access_token: str) -> bool: ...

    async def fetch_dump(
        self, http: httpx.AsyncClient, access: Access, external_id: str
    ) -> Json: ...

    async def change_marker(
        self, http: httpx.AsyncClient, access: Access, external_id: str
    ) -> str | None: ...

    def marker_of(self, dump: Json) -> str | None: ...

    def check_external_id(self, external_id: str) -> None: ...

    async def browse(
        self, http: httpx.AsyncClient, access: Access, request: Browse
    ) -> RemotePage: ...


StaticFetch = Callable[
    [httpx.AsyncClient, str, str, str, RetryPolicy, Clock], Coroutine[Any, Any, Json]
]
"""``fetch(http, external_id, token, api_url, policy, clock)``: a dump with one static token."""


@dataclass(frozen=True)
class DumpCommand:
    """``vsm dump <name> ID``: the provider's words for its board id and its dump."""

    help: str
    description: str
    id_dest: str
    id_metavar: str
    id_help: str
    api_name: str
    subject: str
    not_an_id: str
    fetch: StaticFetch
    summary: Callable[[Json], str]


@dataclass(frozen=True)
class Registration:
    """A provider as the service knows it: ``name`` is ``Board.provider`` and the settings
    group (``VSM_<NAME>__*``), ``resource`` names its jobs (``<resource>.fetch``,
    ``<resource>.poll``), ``build`` makes its :class:`BoardProvider` from the OAuth app, the
    rate budgets and the retry policy. ``revocable``: the provider has a revocation call
    (else deleting a connection only forgets its tokens, and works while it is not
    configured)."""

    name: str
    label: str
    resource: str
    revocable: bool
    default_api_url: str
    build: Callable[[OAuthApp, BudgetFactory, RetryPolicy], BoardProvider]
    dump: DumpCommand
