"""The live providers of a process, by name: what each needs from the settings, built once.

:data:`REGISTRY` is the one list a new provider is added to (see CONTRIBUTING.md): each entry is
the :class:`connectors.provider.Registration` of a package under ``connectors/``. A
:class:`Provider` is that registration in this process: its job names and its live sync
(``None`` with the reason when it is not configured).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.http import (
    DEFAULT_POLICY,
    MemoryRateBudget,
    RateBudget,
    RedisRateBudget,
    SyncRedisScripts,
)
from connectors.loop import ProviderHttp
from connectors.miro.provider import REGISTRATION as MIRO
from connectors.mural.provider import REGISTRATION as MURAL
from connectors.oauth import OAuthApp
from connectors.provider import BudgetFactory, Registration
from service.db.engine import SessionFactory
from service.dispatch import Dispatcher
from service.metrics import Metrics
from service.settings import ProviderSettings, Settings
from service.usecases.connections import (
    EncryptionKeyError,
    TokenCipher,
    provider_label,
)
from service.usecases.live_sync import ProviderLive
from service.usecases.uploads import UploadFolder

REGISTRY: tuple[Registration, ...] = (MIRO, MURAL)
"""Every provider this service knows; a third one adds its registration here."""


def default_http() -> httpx.AsyncClient:
    """The providers' HTTP client: redirects are not followed (a token must not go elsewhere)."""
    return httpx.AsyncClient(follow_redirects=False)


@dataclass(frozen=True)
class Provider:
    """One provider's registration in a process.

    ``fetch_task``/``poll_task``: the dispatcher's names of its fetch (``board id, trigger``)
    and its change poll.
    """

    registration: Registration
    poll_interval_s: float
    live: ProviderLive | None
    disabled_reason: str = ""

    @property
    def name(self) -> str:
        return self.registration.name

    @property
    def label(self) -> str:
        return self.registration.label

    @property
    def fetch_task(self) -> str:
        return f"{self.registration.resource}.fetch"

    @property
    def poll_task(self) -> str:
        return f"{self.registration.resource}.poll"


@dataclass(frozen=True)
class ProviderContext:
    """What every provider builder receives from the composition root."""

    settings: Settings
    sessions: SessionFactory
    dispatcher: Dispatcher
    http_factory: ProviderHttp
    redis: Any | None  # a sync ``redis.Redis`` shared by the process's budgets, or None
    uploads: UploadFolder  # where a fetched dump waits for its import
    metrics: Metrics | None = None  # counts each provider's calls and pacing waits


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


def _budgets(ctx: ProviderContext, provider: str | None = None) -> BudgetFactory:
    """Budgets by kind and identity: shared through Redis when the broker is Redis (every
    worker using one identity sees one window), else per process (the embedded default);
    their pacing waits are counted for ``provider`` (when given, with metrics)."""
    local: dict[tuple[str, str], MemoryRateBudget] = {}
    metrics = ctx.metrics

    def counted(budget: RateBudget) -> RateBudget:
        if metrics is None or provider is None:
            return budget
        return metrics.metered(provider, budget)

    queue = ctx.settings.broker_queue

    def factory(kind: str, ttl: int) -> Callable[[str], RateBudget]:
        if ctx.redis is not None:
            scripts = SyncRedisScripts(ctx.redis)

            def shared(identity: str) -> RateBudget:
                if identity.startswith("connection:"):
                    # Connection ids are this deployment's own (they start at 1 in every
                    # database): scoped by its queue, two deployments sharing one Redis never
                    # pace each other's connection 1. Provider-side identities (a Mural user,
                    # an OAuth app) are metered by the provider across deployments: unscoped.
                    identity = f"{queue}:{identity}"
                return counted(RedisRateBudget(scripts, provider=kind, identity=identity, ttl=ttl))

            return shared

        def in_process(identity: str) -> RateBudget:
            return counted(local.setdefault((kind, identity), MemoryRateBudget()))

        return in_process

    return factory


def build_provider(ctx: ProviderContext, registration: Registration) -> Provider:
    """``registration`` in this process: its live sync when its OAuth app (the settings group
    named like it) and an encryption key are configured."""
    group: ProviderSettings = getattr(ctx.settings, registration.name)
    cipher, reason = live_cipher(ctx.settings, registration.name, enabled=group.enabled)
    live: ProviderLive | None = None
    if cipher is not None:
        app = OAuthApp(
            client_id=group.client_id,
            client_secret=group.client_secret.get_secret_value(),
            redirect_uri=group.redirect_uri,
            api_url=group.api_url or registration.default_api_url,
            auth_url=group.auth_url,
        )
        live = ProviderLive(
            source=registration.build(app, _budgets(ctx, registration.name), DEFAULT_POLICY),
            session_factory=ctx.sessions,
            cipher=cipher,
            http_factory=ctx.http_factory,
            dispatcher=ctx.dispatcher,
            uploads=ctx.uploads,
            poll_interval_s=group.poll_interval_s,
            poll_jitter=group.poll_jitter,
        )
    return Provider(registration, group.poll_interval_s, live, reason)


def build_providers(ctx: ProviderContext) -> Mapping[str, Provider]:
    return {r.name: build_provider(ctx, r) for r in REGISTRY}
