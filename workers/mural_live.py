"""Builds the live Mural dependencies from settings, for the API's embedded runner and for
Celery workers (``murals.fetch`` / ``murals.poll``, run by the shared live-sync code)."""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery

from connectors.http import MemoryRateBudget, RateBudget, RedisRateBudget
from service.db.engine import SessionFactory
from service.jobqueue import JobQueue
from service.settings import Settings
from service.usecases.connections import HttpFactory
from service.usecases.mural_live import MURAL, MuralApp, MuralLive
from workers.live import default_http, live_cipher, register_live_tasks

FETCH_TASK = "murals.fetch"
POLL_TASK = "murals.poll"


def _budgets(settings: Settings) -> tuple[Callable[[str], RateBudget], Callable[[], RateBudget]]:
    """(user budget by user key, the app budget). With a Redis broker both live in Redis: the
    app bucket (10,000 requests/min) is shared by every worker and every tenant."""
    broker = settings.broker_url or ""
    client_id = settings.mural.client_id
    if broker.startswith(("redis://", "rediss://")):
        import redis.asyncio

        # A client per call: redis.asyncio connections belong to the event loop they open in.
        def redis_user(key: str) -> RateBudget:
            client = redis.asyncio.from_url(broker)
            return RedisRateBudget(client, provider="mural-user", identity=key, ttl=60)

        def redis_app() -> RateBudget:
            client = redis.asyncio.from_url(broker)
            return RedisRateBudget(client, provider="mural-app", identity=client_id)

        return redis_user, redis_app
    users: dict[str, MemoryRateBudget] = {}
    shared = MemoryRateBudget()

    def memory_user(key: str) -> RateBudget:
        return users.setdefault(key, MemoryRateBudget())

    return memory_user, lambda: shared


def build_mural_live(
    settings: Settings,
    session_factory: SessionFactory,
    job_queue: JobQueue,
    *,
    http_factory: HttpFactory = default_http,
) -> tuple[MuralLive | None, str]:
    """The live Mural dependencies from ``settings`` (passed by a composition root), or None and
    the reason Mural is off (no OAuth app, no encryption key)."""
    mural = settings.mural
    cipher, reason = live_cipher(settings, MURAL, enabled=mural.enabled)
    if cipher is None:
        return None, reason
    user_budget, app_budget = _budgets(settings)
    live = MuralLive(
        session_factory=session_factory,
        cipher=cipher,
        app=MuralApp(
            client_id=mural.client_id,
            client_secret=mural.client_secret.get_secret_value(),
            redirect_uri=mural.redirect_uri,
            api_url=mural.api_url,
            auth_url=mural.auth_url,
        ),
        http_factory=http_factory,
        user_budget_for=user_budget,
        app_budget=app_budget,
        job_queue=job_queue,
        poll_interval_s=mural.poll_interval_s,
        poll_jitter=mural.poll_jitter,
    )
    return live, ""


def register_mural_tasks(
    app: Celery,
    live_factory: Callable[[], MuralLive | None],
    *,
    max_retries: int,
    poll_every_s: float = 30.0,
) -> None:
    """``murals.fetch`` and ``murals.poll`` on ``app`` (the poll scheduled by beat)."""
    register_live_tasks(
        app,
        live_factory,
        max_retries=max_retries,
        poll_every_s=poll_every_s,
        fetch_task=FETCH_TASK,
        poll_task=POLL_TASK,
    )
