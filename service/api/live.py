"""Composition of live Miro and Mural in the API: their dependencies from the settings, their
routes, and where a connected board's fetch goes (the embedded runner, or Celery at scale).

``create_app`` calls :func:`install_live` once. A provider that is not configured stays off: its
routes answer ``provider-not-configured`` with the reason
(``app.state.<provider>_disabled_reason``).
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI

from service.api.routes import connections, mural_connections
from service.settings import Settings
from service.usecases.connections import MIRO, HttpFactory
from service.usecases.mural_live import MURAL, delete_mural_connection
from workers.live import FETCH_TASK as MIRO_FETCH_TASK
from workers.live import CeleryLiveFetch, EmbeddedLiveSync, build_miro_live
from workers.mural_live import FETCH_TASK as MURAL_FETCH_TASK
from workers.mural_live import build_mural_live

log = structlog.get_logger(__name__)


def install_live(
    app: FastAPI,
    settings: Settings,
    *,
    http_factory: HttpFactory | None = None,
    tick_s: float = 5.0,
) -> list[EmbeddedLiveSync]:
    """Add the live routes to ``app`` and wire both providers; returns the embedded runners the
    app's lifespan must start and stop (none with a broker: ``vsm worker`` runs the fetches and
    ``vsm worker --beat`` the polls).

    ``http_factory`` replaces the providers' HTTP client (tests); ``tick_s`` is how often an
    embedded runner checks for due polls.
    """
    extra = {"http_factory": http_factory} if http_factory is not None else {}
    sessions, jobs = app.state.session_factory, app.state.job_queue
    miro, miro_reason = build_miro_live(settings, sessions, jobs, **extra)
    mural, mural_reason = build_mural_live(settings, sessions, jobs, **extra)
    app.state.miro_live, app.state.miro_disabled_reason = miro, miro_reason
    app.state.mural_live, app.state.mural_disabled_reason = mural, mural_reason
    app.state.forget_connection = {MURAL: delete_mural_connection}

    runners: list[EmbeddedLiveSync] = []
    celery = None
    sides = (
        (MIRO, miro, miro_reason, MIRO_FETCH_TASK),
        (MURAL, mural, mural_reason, MURAL_FETCH_TASK),
    )
    for provider, live, reason, fetch_task in sides:
        port: CeleryLiveFetch | EmbeddedLiveSync | None = None
        if live is not None and settings.broker_url:
            if celery is None:
                from workers.celery_app import create_celery

                celery = create_celery(settings)
            port = CeleryLiveFetch(celery, fetch_task)
        elif live is not None:
            port = EmbeddedLiveSync(live, tick_s=tick_s)
            runners.append(port)
        setattr(app.state, f"{provider}_fetch", port)
        # A provider left unconfigured is the normal laptop case: a hint at debug level only;
        # its routes answer with the reason when someone calls them.
        note = log.info if live is not None else log.debug
        note("live_provider", provider=provider, enabled=live is not None, reason=reason or None)
    app.include_router(connections.router, prefix="/v1")
    app.include_router(mural_connections.router, prefix="/v1")
    return runners
