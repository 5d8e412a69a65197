"""The composition root: ``build(settings)`` makes everything a process needs, once.

The API app factory, the Celery worker and beat (``vsm worker``, ``workers.celery_app``) and the
CLI call :func:`build`; nothing else reads settings or builds clients. Jobs are registered here
by name on the process's one dispatcher (Celery with a broker, the in-process timer heap without)
and published by that name everywhere else.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import structlog
from celery import Celery
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from connectors.errors import TransientError
from connectors.http import RetryPolicy
from connectors.loop import ProviderHttp
from service.db.engine import SessionFactory, create_db_engine, create_session_factory
from service.db.tables import BoardSync, BoardSyncStatus, utcnow
from service.dispatch import CeleryDispatcher, Dispatcher, EmbeddedDispatcher, Job
from service.domain.render.share import derive_share_secret
from service.metrics import Metrics
from service.providers import (
    Provider,
    ProviderContext,
    build_providers,
    default_http,
)
from service.settings import Settings
from service.usecases.connections import HttpFactory
from service.usecases.imports import (
    IMPORT_TASK,
    fail_import_job,
    republish_stale_jobs,
    run_import_job,
    unfinished_job_ids,
)
from service.usecases.live_sync import ProviderLive, fetch_and_import, poll_due_boards
from service.usecases.uploads import UploadFolder, purge_abandoned_uploads
from service.webhooks.config import SecretBox, SecretBoxError
from service.webhooks.egress import EgressPolicy, guarded_client
from service.webhooks.runtime import (
    DELIVER_TASK,
    FIRE_TASK,
    PURGE_TASK,
    SWEEP_TASK,
    TRIGGER,
    DispatchedHooks,
    HookRuntime,
    LiveFetch,
)

log = structlog.get_logger(__name__)

_BEAT_TICK_S = 30.0
_EMBEDDED_TICK_S = 5.0
_PURGE_EVERY_S = 600.0
REPUBLISH_TASK = "imports.republish"
PURGE_UPLOADS_TASK = "imports.purge_uploads"
_SWEEP_WINDOW = timedelta(minutes=5)


def job_retry(settings: Settings, *, base_s: float = 1.0) -> RetryPolicy:
    """How a failed import or fetch is tried again: ``VSM_IMPORT_MAX_RETRIES`` more times,
    after the provider's wait exactly, else after full-jitter backoff capped at ten minutes."""
    return RetryPolicy(
        max_tries=settings.import_max_retries + 1, base_delay=base_s, max_delay=600.0
    )


@dataclass(frozen=True)
class Runtime:
    """Everything one process uses, built by :func:`build` from ``settings``."""

    settings: Settings
    engine: Engine
    sessions: SessionFactory
    dispatcher: Dispatcher
    providers: Mapping[str, Provider]
    hooks: HookRuntime
    share_secret: bytes
    metrics: Metrics
    uploads: UploadFolder
    redis: Any | None = None
    provider_http: ProviderHttp | None = None  # the one loop and client of provider calls

    @property
    def embedded(self) -> bool:
        return isinstance(self.dispatcher, EmbeddedDispatcher)

    def start(self) -> None:
        """Start running jobs; the embedded default first re-publishes what a stopped process
        left behind (queued or running imports, pending webhook fires and deliveries)."""
        if self.embedded:
            self._recover()
        self.dispatcher.start()

    def stop(self) -> None:
        self.dispatcher.stop()
        self.hooks.client.close()
        self.hooks.close()
        if self.provider_http is not None:
            self.provider_http.close()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                self.redis.close()

    def _recover(self) -> None:
        try:
            with self.sessions() as session:
                job_ids = unfinished_job_ids(session)
        except SQLAlchemyError as exc:
            # Serve anyway: /readyz reports the database, and new jobs are queued as they come.
            log.warning("embedded_recovery_skipped", error=type(exc).__name__)
            return
        for job_id in job_ids:
            self.dispatcher.publish(IMPORT_TASK, job_id)
        try:
            self.hooks.recover()
        except Exception:
            log.exception("hook_recovery_failed")


def build(
    settings: Settings,
    *,
    engine: Engine | None = None,
    dispatcher: Dispatcher | None = None,
    http_factory: HttpFactory | None = None,
    poll_tick_s: float | None = None,
    retry: RetryPolicy | None = None,
) -> Runtime:
    """The runtime of one process for ``settings``.

    ``engine``, ``dispatcher`` and ``http_factory`` replace the ones built from the settings
    (tests, benchmarks, a worker's smaller pool). ``poll_tick_s`` is how often the live polls
    look for due boards (default: every 5 s embedded, every 30 s or the shortest poll interval
    on beat). ``retry`` replaces :func:`job_retry` for imports and fetches.
    """
    engine = engine or create_db_engine(settings.database_url)
    sessions = create_session_factory(engine)
    if dispatcher is None:
        if settings.broker_url:
            dispatcher = CeleryDispatcher(
                settings.broker_url,
                queue=settings.broker_queue,
                visibility_timeout_s=settings.broker_visibility_timeout_s,
            )
        else:
            dispatcher = EmbeddedDispatcher(lanes={"imports": 1, "live": 1})
    redis_client = _redis(settings)
    uploads = UploadFolder(settings.upload_path)
    metrics = Metrics()
    metrics.watch_database(engine)
    provider_http = ProviderHttp(
        metrics.counting(http_factory or default_http, provider_hosts(settings))
    )
    providers = build_providers(
        ProviderContext(
            settings, sessions, dispatcher, provider_http, redis_client, uploads, metrics
        )
    )
    runtime = Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        dispatcher=dispatcher,
        providers=providers,
        hooks=_hook_runtime(settings, sessions, dispatcher, providers, uploads),
        share_secret=share_signing_key(settings),
        metrics=metrics,
        uploads=uploads,
        redis=redis_client,
        provider_http=provider_http,
    )
    _register_jobs(runtime, poll_tick_s, retry)
    return runtime


def provider_hosts(settings: Settings) -> dict[str, str]:
    """Host -> provider name of every configured provider URL (API and OAuth), for metrics."""
    hosts: dict[str, str] = {}
    for name in ("miro", "mural"):
        group = getattr(settings, name)
        for url in (group.api_url, group.auth_url):
            if url:
                hosts[httpx.URL(url).host] = name
    return hosts


def worker_celery(settings: Settings) -> Celery:
    """The Celery app of a ``vsm worker``/``vsm beat`` process: :func:`build` with a small
    database pool (one connection per concurrent task); ``ValueError`` without a broker."""
    if not settings.broker_url:
        raise ValueError("VSM_BROKER_URL is not set: there is no broker to connect to")
    runtime = build(settings, engine=create_db_engine(settings.database_url, pool_size=2))
    assert isinstance(runtime.dispatcher, CeleryDispatcher)
    return runtime.dispatcher.app


def share_signing_key(settings: Settings) -> bytes:
    """The share-link signing key: derived from the newest ``VSM_ENCRYPTION_KEYS`` key, so every
    API process with the same keys accepts the same links; without keys a random key of this
    process (links then end with it and work on this process only). Built once per process,
    so concurrent first requests cannot sign with two different keys."""
    if settings.encryption_keys:
        return derive_share_secret(settings.encryption_keys[0])
    return secrets.token_bytes(32)


def _redis(settings: Settings) -> Any | None:
    """One sync Redis client (one pool) for every rate budget of the process, when the broker
    is Redis; budgets are then shared by every worker. Connects on first use."""
    broker = settings.broker_url or ""
    if not broker.startswith(("redis://", "rediss://")):
        return None
    import redis  # only deployments with a Redis broker pay for the import

    return redis.Redis.from_url(broker)


def _hook_runtime(
    settings: Settings,
    sessions: SessionFactory,
    dispatcher: Dispatcher,
    providers: Mapping[str, Provider],
    uploads: UploadFolder,
) -> HookRuntime:
    hooks = settings.webhooks
    try:
        box: SecretBox | None = SecretBox(settings.encryption_keys)
    except SecretBoxError:
        box = None  # webhook routes answer with the reason; nothing can be signed or verified
    policy = EgressPolicy(
        allow_private=hooks.allow_private_targets, follow_redirects=hooks.follow_redirects
    )
    # A trigger on a live board of a configured provider fetches it again, through the same
    # use case the pollers use.
    fetchers: dict[str, LiveFetch] = {
        name: _fetcher(provider.live)
        for name, provider in providers.items()
        if provider.live is not None
    }
    return HookRuntime(
        sessions=sessions,
        settings=hooks,
        scheduler=DispatchedHooks(dispatcher),
        box=box,
        policy=policy,
        client=guarded_client(policy, timeout=hooks.delivery_timeout_s),
        uploads=uploads,
        base_url=settings.links_base_url,
        dispatcher=dispatcher,
        live_fetchers=fetchers,
    )


def _fetcher(live: ProviderLive) -> LiveFetch:
    def fetch(board_id: int) -> int | None:
        return fetch_and_import(live, board_id, trigger=TRIGGER)

    return fetch


def _register_jobs(runtime: Runtime, poll_tick_s: float | None, retry: RetryPolicy | None) -> None:
    """Every job of the service, on the runtime's dispatcher."""
    settings, sessions, hooks, dispatcher = (
        runtime.settings,
        runtime.sessions,
        runtime.hooks,
        runtime.dispatcher,
    )

    def after_import(job_id: int) -> None:
        try:
            hooks.after_import(job_id)
        except Exception:
            log.exception("import_events_failed", job_id=job_id)

    def run_import(job_id: int) -> None:
        """Run import job ``job_id``; a finished job is left alone (redelivery is harmless)."""
        structlog.contextvars.bind_contextvars(job_id=job_id)
        try:
            with sessions() as session, runtime.metrics.time_job() as timer:
                done = run_import_job(session, runtime.uploads, job_id)
                timer.outcome = done.status if done is not None else "missing"
        except (OperationalError, InterfaceError) as exc:
            # The database dropped the connection (restart, failover, terminated backend):
            # retried like a provider's blip, then given up as ``failed`` with the reason.
            reason = str(exc.orig or exc).splitlines()[0][:200]
            raise TransientError(f"database unavailable: {reason}") from exc
        finally:
            structlog.contextvars.unbind_contextvars("job_id")
        after_import(job_id)

    def give_up_import(job_id: int, exc: Exception) -> None:
        try:
            with sessions() as session:
                fail_import_job(session, runtime.uploads, job_id, f"gave up after retries: {exc}")
        except SQLAlchemyError as error:
            # Still no database: the job stays ``running`` and imports.republish hands it over
            # again once it has been running for the broker's visibility timeout.
            log.warning("import_give_up_unrecorded", job_id=job_id, error=type(error).__name__)
            return
        after_import(job_id)

    dispatcher.register(
        Job(
            IMPORT_TASK,
            run_import,
            retry=retry or job_retry(settings),
            give_up=give_up_import,
            lane="imports",
        )
    )
    for provider in runtime.providers.values():
        _register_provider(runtime, provider, poll_tick_s, retry)

    def purge_uploads() -> None:
        """Delete upload files no job refers to (broken off mid-transfer, their request
        refused, or their process stopped between the file and the job's commit)."""
        with sessions() as session:
            purge_abandoned_uploads(session, runtime.uploads, now=utcnow())

    dispatcher.register(Job(PURGE_UPLOADS_TASK, purge_uploads, every_s=_PURGE_EVERY_S))

    dispatcher.register(Job(FIRE_TASK, hooks.fire))
    dispatcher.register(Job(DELIVER_TASK, hooks.deliver))
    dispatcher.register(Job(PURGE_TASK, hooks.purge, every_s=_PURGE_EVERY_S))

    def sweep_events() -> None:
        """Emit the events of imports finished in the last minutes that have none yet (a worker
        that died between an import's commit and its events), and fire boards pending past
        their due time; emitting or firing twice adds nothing."""
        hooks.emit_recent(utcnow() - _SWEEP_WINDOW)
        # Triggers accepted while the broker was down: their fire was never published.
        hooks.fire_overdue(stale_after)

    stale_after = timedelta(seconds=settings.outbox_stale_after_s)
    dispatcher.register(Job(SWEEP_TASK, sweep_events, every_s=settings.outbox_sweep_s))

    abandoned_after = timedelta(seconds=settings.broker_visibility_timeout_s)
    if not runtime.embedded:
        # The outbox relay's retry: jobs whose publish failed (broker down) stay ``queued`` in
        # the database and are handed over again here. Embedded publishes cannot fail, and a
        # start re-publishes what a stopped process left behind (``Runtime._recover``).
        def republish_imports() -> None:
            with sessions() as session:
                republish_stale_jobs(
                    session,
                    dispatcher,
                    now=utcnow(),
                    older_than=stale_after,
                    running_older_than=abandoned_after,
                )

        dispatcher.register(Job(REPUBLISH_TASK, republish_imports, every_s=settings.outbox_sweep_s))


def _register_provider(
    runtime: Runtime, provider: Provider, poll_tick_s: float | None, retry: RetryPolicy | None
) -> None:
    """``<provider>.fetch`` and ``<provider>.poll``; no-ops while the provider is off (a stale
    message for it is dropped instead of failing)."""
    live, dispatcher, sessions = provider.live, runtime.dispatcher, runtime.sessions

    def fetch_board(board_id: int, trigger: str = "poll") -> None:
        """Fetch a connected board and queue its import (idempotent: a rerun queues the same
        content, which the import reports as ``unchanged``)."""
        if live is not None:
            fetch_and_import(live, board_id, trigger=trigger)

    def give_up(board_id: int, *rest: Any) -> None:
        exc = rest[-1]
        with sessions() as session:
            sync = session.get(BoardSync, board_id)
            if sync is not None:
                sync.status = BoardSyncStatus.FAILED
                sync.error = f"gave up after retries: {exc}"[:2000]
                session.add(sync)
                session.commit()

    def poll_boards() -> None:
        """Check due boards' change marker; queue a fetch for each changed one."""
        if live is None:
            return
        for board_id in poll_due_boards(live):
            dispatcher.publish(provider.fetch_task, board_id, "poll")

    if poll_tick_s is not None:
        every = poll_tick_s
    elif runtime.embedded:
        every = _EMBEDDED_TICK_S
    else:
        every = min(_BEAT_TICK_S, provider.poll_interval_s)
    dispatcher.register(
        Job(
            provider.fetch_task,
            fetch_board,
            retry=retry or job_retry(runtime.settings, base_s=2.0),
            give_up=give_up,
            lane="live",
        )
    )
    dispatcher.register(Job(provider.poll_task, poll_boards, every_s=every, lane="live"))
