"""The live providers of a process, by name: what each needs from the settings, built once.

A :class:`Provider` is a registration: its name (``Board.provider``), its job names and its live
sync (``None`` with the reason when it is not configured). :data:`BUILDERS` is the one list a new
provider is added to (see CONTRIBUTING.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlmodel import Session

from connectors.http import MemoryRateBudget, RateBudget, RedisRateBudget, SyncRedisScripts
from connectors.loop import ProviderHttp
from connectors.miro.oauth import MiroApp
from service.db.engine import SessionFactory
from service.db.tables import Connection
from service.dispatch import Dispatcher
from service.settings import Settings
from service.usecases.connections import (
    MIRO,
    EncryptionKeyError,
    TokenCipher,
    provider_label,
)
from service.usecases.live_sync import LiveSync, MiroLive
from service.usecases.mural_live import MURAL, MuralApp, MuralLive, delete_mural_connection


def default_http() -> httpx.AsyncClient:
    """The providers' HTTP client: redirects are not followed (a token must not go elsewhere)."""
    return httpx.AsyncClient(follow_redirects=False)


@dataclass(frozen=True)
class Provider:
    """One provider's registration in a process.

    ``fetch_task``/``poll_task``: the dispatcher's names of its fetch (``board id, trigger``)
    and its change poll. ``forget``: deletes a connection without a revocation call (providers
    that have none); None when the routes revoke through the provider's own use case.
    """

    name: str
    fetch_task: str
    poll_task: str
    poll_interval_s: float
    live: LiveSync | None
    disabled_reason: str = ""
    forget: Callable[[Session, Connection], None] | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return provider_label(self.name)


@dataclass(frozen=True)
class ProviderContext:
    """What every provider builder receives from the composition root."""

    settings: Settings
    sessions: SessionFactory
    dispatcher: Dispatcher
    http_factory: ProviderHttp
    redis: Any | None  # a sync ``redis.Redis`` shared by the process's budgets, or None


def live_cipher(
    settings: Settings, provider: str, *, enabled: bool
) -> tuple[TokenCipher | None, str]:
    """The token cipher of ``provider``'s live sync, or None and the reason the provider is off
    (``enabled`` false: no OAuth app configured; no usable encryption key)."""
    name = provider.upper()
    if not enabled:
        return None, (
            f"{provider_label(provider)} is not configured: "
            f"set VSM_{name}__CLIENT_ID and VSM_{name}__CLIENT_SECRET."
        )
    try:
        return TokenCipher(settings.encryption_keys), ""
    except EncryptionKeyError as exc:
        return None, str(exc)


def _budget_factory(ctx: ProviderContext, kind: str, ttl: int = 180) -> Callable[[str], RateBudget]:
    """Budgets by identity: shared through Redis when the broker is Redis (every worker using
    one identity sees one window), else per process (the embedded default)."""
    if ctx.redis is not None:
        scripts = SyncRedisScripts(ctx.redis)

        def shared(identity: str) -> RateBudget:
            return RedisRateBudget(scripts, provider=kind, identity=identity, ttl=ttl)

        return shared
    budgets: dict[str, MemoryRateBudget] = {}

    def local(identity: str) -> RateBudget:
        return budgets.setdefault(identity, MemoryRateBudget())

    return local


def build_miro(ctx: ProviderContext) -> Provider:
    """Miro: a budget per connection (Miro meters each user token)."""
    miro = ctx.settings.miro
    cipher, reason = live_cipher(ctx.settings, MIRO, enabled=miro.enabled)
    live: MiroLive | None = None
    if cipher is not None:
        budget = _budget_factory(ctx, MIRO)
        live = MiroLive(
            session_factory=ctx.sessions,
            cipher=cipher,
            app=MiroApp(
                client_id=miro.client_id,
                client_secret=miro.client_secret.get_secret_value(),
                redirect_uri=miro.redirect_uri,
                api_url=miro.api_url,
                auth_url=miro.auth_url,
            ),
            http_factory=ctx.http_factory,
            budget_for=lambda connection_id: budget(f"connection:{connection_id}"),
            dispatcher=ctx.dispatcher,
            poll_interval_s=miro.poll_interval_s,
            poll_jitter=miro.poll_jitter,
        )
    return Provider(MIRO, "boards.fetch", "boards.poll", miro.poll_interval_s, live, reason)


def build_mural(ctx: ProviderContext) -> Provider:
    """Mural: a budget per user and one the whole app shares (10,000 requests/min across every
    worker and tenant: in Redis at scale)."""
    mural = ctx.settings.mural
    cipher, reason = live_cipher(ctx.settings, MURAL, enabled=mural.enabled)
    live: MuralLive | None = None
    if cipher is not None:
        users = _budget_factory(ctx, "mural-user", ttl=60)
        app_budget = _budget_factory(ctx, "mural-app")(mural.client_id)
        live = MuralLive(
            session_factory=ctx.sessions,
            cipher=cipher,
            app=MuralApp(
                client_id=mural.client_id,
                client_secret=mural.client_secret.get_secret_value(),
                redirect_uri=mural.redirect_uri,
                api_url=mural.api_url,
                auth_url=mural.auth_url,
            ),
            http_factory=ctx.http_factory,
            user_budget_for=users,
            app_budget=lambda: app_budget,
            dispatcher=ctx.dispatcher,
            poll_interval_s=mural.poll_interval_s,
            poll_jitter=mural.poll_jitter,
        )
    return Provider(
        MURAL,
        "murals.fetch",
        "murals.poll",
        mural.poll_interval_s,
        live,
        reason,
        forget=delete_mural_connection,
    )


BUILDERS: tuple[Callable[[ProviderContext], Provider], ...] = (build_miro, build_mural)
"""Every provider this service knows; a third one adds its builder here."""


def build_providers(ctx: ProviderContext) -> Mapping[str, Provider]:
    return {provider.name: provider for provider in (build(ctx) for build in BUILDERS)}
